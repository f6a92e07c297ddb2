# pampero: a message moved out of the Spam folder is learned as ham (95-pampero-learn.conf),
# unless it goes to the Trash (deleting spam says nothing about it) or stays in Spam (a
# copy within Spam: learn-spam.sieve has it). Rename Spam here if store.spam_folder does.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
  set "mailbox" "${1}";
}
if string :is "${mailbox}" ["Spam", "Trash", "Deleted Messages", "Deleted Items"] {
  stop;
}
pipe :copy "pampero-learn" ["ham"];
