# package-inside.sh - run by scripts/package-check inside a fresh Debian 12 chroot (its
# own network namespace, loopback only) that has the package's dependencies and Postfix
# and /root/pampero_*.deb: install, check what is installed, run the daemons as their
# units would, send one message through Postfix, stop, purge. Exits non-zero on the
# first failure, saying what failed.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
units=/lib/systemd/system
fail() {
    echo "package-check: FAILED: $*" >&2
    for f in /var/log/pampero-*.log /var/log/postfix.log; do
        [[ -s $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}
step() { echo "package-check: $*"; }

step "apt-get install ./$(basename /root/pampero_*.deb)"
apt-get install -y -q /root/pampero_*.deb >/var/log/pampero-apt.log 2>&1 || {
    tail -20 /var/log/pampero-apt.log >&2; fail "apt-get install"; }

step "what the package installed"
for f in /usr/sbin/pampero-milter /usr/sbin/pampero-store /usr/sbin/pampero-policyd \
    /usr/sbin/pamperoctl \
    /etc/pampero/pampero.yaml /etc/pampero/levels.yaml /etc/pampero/rules.d/00-gtube.yaml \
    $units/pampero-milter.service $units/pampero-store.service $units/pampero-policyd.service \
    $units/pampero-mirror-sync.service $units/pampero-mirror-sync.timer \
    /usr/share/man/man8/pampero-milter.8.gz /usr/share/man/man8/pampero-store.8.gz \
    /usr/share/man/man8/pampero-policyd.8.gz \
    /usr/share/man/man8/pamperoctl.8.gz /usr/share/man/man5/pampero.yaml.5.gz \
    /usr/share/bash-completion/completions/pamperoctl \
    /usr/share/doc/pampero/README.md /usr/share/doc/pampero/copyright \
    /usr/share/doc/pampero/examples/postfix/main.cf.milter \
    /usr/share/doc/pampero/examples/postfix/main.cf-store \
    /usr/share/doc/pampero/examples/postfix/main.cf.policyd \
    /usr/share/doc/pampero/examples/sendmail/pampero.mc; do
    [[ -e $f ]] || fail "$f is not installed"
done
conffiles=$(dpkg-query -W -f='${Conffiles}\n' pampero)
for f in /etc/pampero/pampero.yaml /etc/pampero/levels.yaml /etc/pampero/rules.d/00-gtube.yaml; do
    grep -q "^ $f " <<<"$conffiles" || fail "$f is not a conffile"
done
for u in pampero-milter pampero-store pampero-policyd; do
    grep -qx "ExecStart=/usr/sbin/$u -f -c /etc/pampero/pampero.yaml" $units/$u.service ||
        fail "$u.service does not start /usr/sbin/$u"
done
/usr/sbin/pampero-milter --version | grep -q '^pampero-milter ' || fail "pampero-milter --version"
/usr/sbin/pampero-policyd --version | grep -q '^pampero-policyd ' || fail "pampero-policyd --version"
getent passwd pampero >/dev/null || fail "no user pampero"
getent passwd vmail >/dev/null || fail "no user vmail"
id -nG vmail | grep -qw pampero || fail "vmail is not in group pampero"
[[ $(stat -c '%U:%G %a' /var/lib/pampero) == "pampero:pampero 2770" ]] ||
    fail "/var/lib/pampero is $(stat -c '%U:%G %a' /var/lib/pampero)"
[[ $(stat -c '%U:%G %a' /var/mail/pampero) == "vmail:vmail 750" ]] ||
    fail "/var/mail/pampero is $(stat -c '%U:%G %a' /var/mail/pampero)"
[[ $(stat -c '%U:%G %a' /etc/pampero/verdict.keys) == "root:pampero 640" ]] ||
    fail "/etc/pampero/verdict.keys is $(stat -c '%U:%G %a' /etc/pampero/verdict.keys)"
# bash completion, as a login shell with bash-completion would load it.
bash -c '. /usr/share/bash-completion/completions/pamperoctl
    COMP_WORDS=(pamperoctl verdict-key ""); COMP_CWORD=2; _pamperoctl; [[ "${COMPREPLY[*]}" == "new promote" ]]' ||
    fail "the bash completion"

step "pamperoctl: a domain and a user"
pamperoctl domain add example.org
pamperoctl user add alice@example.org

# The units as systemd would run them: ExecStart as User/Group (and the groups the user
# is in: SupplementaryGroups=pampero for the store is vmail's membership made by the
# postinst), AmbientCapabilities, RuntimeDirectory and UMask.
unit_key() { sed -n "s/^$2=//p" "$units/$1.service" | head -n 1; }
declare -A pid
start_unit() {
    local u=$1 user group caps d args=()
    user=$(unit_key "$u" User) group=$(unit_key "$u" Group) caps=$(unit_key "$u" AmbientCapabilities)
    for d in $(unit_key "$u" RuntimeDirectory); do
        install -d -o "$user" -g "$group" -m "$(unit_key "$u" RuntimeDirectoryMode)" "/run/$d"
    done
    args=(--reuid "$user" --regid "$group" --init-groups)
    if [[ -n $caps ]]; then
        caps=$(tr 'A-Z' 'a-z' <<<"$caps" | sed 's/cap_//g; s/ \+/,+/g')
        args+=(--inh-caps "+$caps" --ambient-caps "+$caps")
    fi
    # shellcheck disable=SC2046
    (umask "$(unit_key "$u" UMask)"; exec setpriv "${args[@]}" $(unit_key "$u" ExecStart)) \
        >"/var/log/$u.log" 2>&1 &
    pid[$u]=$!
}
wait_port() {
    local i
    for ((i = 0; i < 300; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "${pid[$2]}" 2>/dev/null || fail "$2 exited before listening on $1"
        sleep 0.1
    done
    fail "$2 does not listen on 127.0.0.1:$1 after 30 s"
}
step "starting pampero-store, pampero-milter and pampero-policyd as their units would"
start_unit pampero-store
start_unit pampero-milter
start_unit pampero-policyd
wait_port 24 pampero-store
wait_port 10026 pampero-store
wait_port 10025 pampero-milter
wait_port 10031 pampero-policyd
[[ $(stat -c %U /proc/"${pid[pampero-milter]}") == pampero ]] || fail "the milter does not run as pampero"
[[ $(stat -c %U /proc/"${pid[pampero-policyd]}") == pampero ]] || fail "the policyd does not run as pampero"
[[ $(stat -c %U /proc/"${pid[pampero-store]}") == vmail ]] || fail "the store does not run as vmail"

step "one policy request: relaying without SASL or RADIUS is refused"
policy_reply=$(
    exec 3<>/dev/tcp/127.0.0.1/10031
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\nsasl_username=\nrecipient=someone@example.net\ninstance=package-check\n\n' >&3
    IFS= read -r -t 10 line <&3 && printf '%s' "$line"
) || true
[[ $policy_reply == "action=554 5.7.1 "* ]] ||
    fail "pampero-policyd answered '$policy_reply', not action=554 5.7.1 (relay refused)"

step "Postfix with the package's snippets"
cat /usr/share/doc/pampero/examples/postfix/main.cf.milter \
    /usr/share/doc/pampero/examples/postfix/main.cf-store >>/etc/postfix/main.cf
postconf -e myhostname=mx.pampero.test mydestination=localhost inet_interfaces=loopback-only \
    inet_protocols=ipv4 maillog_file=/var/log/postfix.log
# No service chrooted: the chroot we are in lacks the copies of /etc files a Postfix
# chroot needs (Debian's init script makes them).
postconf -F '*/*/chroot = n'
postfix check || fail "postfix check"
postfix start >/dev/null 2>&1 || fail "postfix start"

step "one message through sendmail(1) -> milter -> LMTP -> Maildir"
printf 'From: bob@example.net\nTo: alice@example.org\nSubject: package check\nMessage-ID: <package-check@example.net>\n\nHello from the package check.\n' |
    sendmail -f bob@example.net alice@example.org || fail "sendmail"
maildir=/var/mail/pampero/example.org/alice
for ((i = 0; i < 600; i++)); do
    compgen -G "$maildir/new/*" >/dev/null && break
    sleep 0.1
done
msg=$(compgen -G "$maildir/new/*" | head -n 1) || true
[[ -n $msg ]] || { postqueue -p >&2 || true; fail "no message in $maildir/new after 60 s"; }
grep -q '^Subject: package check' "$msg" || fail "the delivered message is not the one sent"
grep -q '^X-Spam-Status: ' "$msg" || fail "no X-Spam-Status: the milter did not see the message"
grep -q '^X-Spam-Signature: ' "$msg" || fail "no X-Spam-Signature: the verdict was not signed"
grep -q 'status=sent (250 2.' /var/log/postfix.log || fail "Postfix did not log the LMTP delivery"
[[ $(stat -c %U "$msg") == vmail ]] || fail "the message file is not vmail's"

step "stopping (SIGTERM) and purging"
postfix stop >/dev/null 2>&1 || true
for u in pampero-milter pampero-store pampero-policyd; do
    kill -TERM "${pid[$u]}"
    rc=0
    wait "${pid[$u]}" || rc=$?
    [[ $rc -eq 0 ]] || fail "$u exited $rc on SIGTERM"
done
apt-get purge -y -q pampero >/var/log/pampero-apt.log 2>&1 || {
    tail -20 /var/log/pampero-apt.log >&2; fail "apt-get purge"; }
[[ ! -e /etc/pampero/verdict.keys && ! -e /usr/sbin/pampero-milter ]] || fail "purge left files"
step "all checks passed"
