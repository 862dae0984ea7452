#!/bin/busybox sh
# tests/guest/busybox_perms.sh: run by tests/tests/permissions.rs as root
# natively (on a tmpfs, in a private mount and PID namespace) and in the
# guest, with the same output expected. Owners, modes and filesystem
# statistics through busybox's applets, in the scratch directory $1; user
# and group names come from the host's /etc/passwd and /etc/group, which
# the guest gets too.
B=/bin/busybox
cd "$1"
echo "== id"
$B id -u -n
$B id -g -n
echo "== create under a umask"
umask 027
$B touch f
$B mkdir d
$B stat -c '%n %a %U %G %F' f d
umask 022
echo "== chmod"
$B chmod 0640 f
$B chmod u+s,g+s f
$B stat -c '%n %a' f
$B chmod 1777 d
$B stat -c '%n %a %A' d
echo "== chown"
$B chown 1000:100 f
$B stat -c '%n %u %g %a' f
$B chmod 6750 f
$B chown 1001 f
$B stat -c '%n %u %g %a' f
$B chown root:root f
$B stat -c '%n %U %G %a' f
$B chgrp 100 d
$B stat -c '%n %g %a' d
echo "== stat -f, df"
$B stat -f -c '%t %s %l' .
$B stat -f -c '%t' /proc
$B df -P . | $B tail -1 | $B awk '{ print ($2 > 0), ($4 <= $2) }'
echo "== done"
