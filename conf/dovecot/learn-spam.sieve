# pampero: a message moved into the Spam folder is learned as spam (95-pampero-learn.conf).
require ["vnd.dovecot.pipe", "copy", "imapsieve"];

pipe :copy "pampero-learn" ["spam"];
