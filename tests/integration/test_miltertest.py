"""pampero-milter driven by an independent milter client: miltertest (Lua scripts).

Protocol-level cases without an MTA in between: the replies to each stage, the header
and recipient operations requested at end of message, the MTA's queue id in the log
lines, and the ban seen at the next connection.
"""
import os
import shutil
import subprocess
import unittest

import harness as h

RULES = """rules:
  - {name: TEST_SCORE_SEVEN, target: body, regex: 'PAMPERO-TEST-SCORE-SEVEN', score: 7}
"""

SCRIPT = r"""
local sock = "inet:@PORT@@127.0.0.1"
-- miltertest prints nothing for error(): say what failed first.
local function check(cond, what) if not cond then print("FAIL: " .. what); io.stdout:flush(); error(what) end end

local conn = mt.connect(sock, 40, 0.25)
check(conn ~= nil, "connect failed")
check(mt.conninfo(conn, "client.example", "192.0.2.50") == nil, "conninfo")
check(mt.getreply(conn) == SMFIR_CONTINUE, "connect not continued")
mt.macro(conn, SMFIC_MAIL, "i", "QID4242")
check(mt.mailfrom(conn, "<sender@remote.example>") == nil, "mailfrom")
check(mt.getreply(conn) == SMFIR_CONTINUE, "mailfrom not continued")
mt.macro(conn, SMFIC_RCPT, "i", "QID4242", "{rcpt_mailer}", "virtual")
check(mt.rcptto(conn, "<nobody@demo.test>") == nil, "rcpt nobody")
check(mt.getreply(conn) == SMFIR_REPLYCODE, "unknown recipient not refused")
for _, r in ipairs({"<alice@demo.test>", "<bob@demo.test>", "<carol@demo.test>"}) do
  check(mt.rcptto(conn, r) == nil, "rcpt " .. r)
  check(mt.getreply(conn) == SMFIR_CONTINUE, "known recipient refused: " .. r)
end
check(mt.header(conn, "From", "sender@remote.example") == nil, "header")
check(mt.header(conn, "Subject", "offer") == nil, "header")
check(mt.header(conn, "X-Spam-Status", "No, forged") == nil, "header")
check(mt.eoh(conn) == nil, "eoh")
check(mt.bodystring(conn, "PAMPERO-TEST-SCORE-SEVEN\r\n") == nil, "body")
check(mt.eom(conn) == nil, "eom")
check(mt.getreply(conn) == SMFIR_CONTINUE, "eom: message not accepted for the others")
-- miltertest offers SMFIP_HDR_LEADSPC, so values travel verbatim, leading space included.
check(mt.eom_check(conn, MT_HDRADD, "X-Spam-Score", " 7.0"), "X-Spam-Score not added")
check(mt.eom_check(conn, MT_HDRADD, "X-Spam-Status"), "X-Spam-Status not added")
check(mt.eom_check(conn, MT_HDRDELETE, "X-Spam-Status"), "forged X-Spam-Status not deleted")
check(mt.eom_check(conn, MT_RCPTDELETE, "<carol@demo.test>"), "carol (level 5) not removed")
check(not mt.eom_check(conn, MT_RCPTDELETE, "<bob@demo.test>"), "bob (level 3) removed")

-- GTUBE in a second transaction on the same connection: refused with 550 5.7.1.
mt.macro(conn, SMFIC_MAIL, "i", "QID4343")
check(mt.mailfrom(conn, "<sender@remote.example>") == nil, "mailfrom 2")
check(mt.rcptto(conn, "<alice@demo.test>") == nil, "rcpt 2")
check(mt.header(conn, "Subject", "gtube") == nil, "header 2")
check(mt.eoh(conn) == nil, "eoh 2")
check(mt.bodystring(conn, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n") == nil, "body 2")
check(mt.eom(conn) == nil, "eom 2")
check(mt.getreply(conn) == SMFIR_REPLYCODE, "GTUBE not refused")
-- (the 550 5.7.1 text itself is checked through Postfix in test_milter.py: miltertest
-- does not expose the reply text of an end-of-message reply code)

-- An authenticated sender ({auth_authen}, the submission profile) is not scored: GTUBE
-- passes, but recipients are still checked.
mt.macro(conn, SMFIC_MAIL, "i", "QID4444", "{auth_authen}", "alice")
check(mt.mailfrom(conn, "<alice@demo.test>") == nil, "mailfrom 3")
mt.macro(conn, SMFIC_RCPT, "i", "QID4444")
check(mt.rcptto(conn, "<nobody@demo.test>") == nil, "rcpt 3 unknown")
check(mt.getreply(conn) == SMFIR_REPLYCODE, "unknown recipient accepted for an authenticated sender")
check(mt.rcptto(conn, "<bob@demo.test>") == nil, "rcpt 3")
check(mt.header(conn, "Subject", "outbound") == nil, "header 3")
check(mt.eoh(conn) == nil, "eoh 3")
check(mt.bodystring(conn, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n") == nil, "body 3")
check(mt.eom(conn) == nil, "eom 3")
check(mt.getreply(conn) == SMFIR_CONTINUE, "authenticated GTUBE refused")
mt.disconnect(conn)

-- A guesser: the second unknown recipient crosses the limit (2) ...
local g = mt.connect(sock, 40, 0.25)
check(mt.conninfo(g, "guesser.example", "192.0.2.66") == nil, "conninfo g")
check(mt.mailfrom(g, "<x@guesser.example>") == nil, "mailfrom g")
check(mt.rcptto(g, "<guess1@demo.test>") == nil, "rcpt g1")
check(mt.getreply(g) == SMFIR_REPLYCODE, "guess1 not refused")
check(mt.rcptto(g, "<guess2@demo.test>") == nil, "rcpt g2")
check(mt.getreply(g) == SMFIR_REPLYCODE, "guess2 not refused")
mt.disconnect(g, false)
-- ... and its next connection is refused at once.
local again = mt.connect(sock, 40, 0.25)
check(mt.conninfo(again, "guesser.example", "192.0.2.66") == nil, "conninfo again")
check(mt.getreply(again) == SMFIR_REPLYCODE, "banned client not refused at connect")
mt.disconnect(again, false)
mt.echo("miltertest: all checks passed")
"""


class Miltertest(unittest.TestCase):
    def test_protocol_level_conversation(self):
        work = h.WorkDir()
        try:
            os.makedirs(os.path.join(work.path, "rules.d"))
            shutil.copy(os.path.join(h.SOURCE, "conf", "rules.d", "00-gtube.yaml"), os.path.join(work.path, "rules.d"))
            with open(os.path.join(work.path, "rules.d", "90-test.yaml"), "w") as f:
                f.write(RULES)
            port = h.free_port()
            config = h.write_config(work.path, port, guard={"unknown_limit": 2})
            h.pamperoctl(config, "domain", "add", "demo.test")
            for user, level in (("alice", 1), ("bob", 3), ("carol", 5)):
                h.pamperoctl(config, "user", "add", f"{user}@demo.test", "--level", str(level))
            milter = h.start_milter(config, port, work.path)
            try:
                script = os.path.join(work.path, "conversation.lua")
                with open(script, "w") as f:
                    f.write(SCRIPT.replace("@PORT@", str(port)))
                p = subprocess.run(["miltertest", "-s", script], capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr + milter.output())
                self.assertIn("all checks passed", p.stdout)
                log = milter.output()
                self.assertRegex(log, r"QID4242: from=<sender@remote\.example> client=192\.0\.2\.50 score=7\.0")
                self.assertRegex(log, r"QID4343: .*tests=GTUBE")
                self.assertIn("client 192.0.2.66 banned", log)
                self.assertRegex(log, r"QID4444: from=<alice@demo\.test> client=192\.0\.2\.50 authenticated, not scored")
            finally:
                milter.stop()
        finally:
            work.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
