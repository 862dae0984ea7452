#!/bin/busybox sh
# tests/guest/busybox_applets.sh: run by tests/tests/real_programs.rs natively
# and in the guest, with the same output expected.
# Busybox applets over a scratch tree in $1, printing what they show. Lines
# starting with "~" carry numbers that differ between runs (times, pids,
# memory sizes): the test compares them with digits normalised.
B=/bin/busybox
cd "$1"
echo "== setup"
$B mkdir -p a/b/c
echo hello > a/f1
$B seq 1 1000 > a/b/f2
$B touch -d '2020-01-02 03:04:05' a/f1 a/b/f2
echo "== ls -la"
$B ls -lan a | $B grep -v '^total' | $B grep -v '^d' | $B awk '{print $1, $2, $3, $4, $5, $6, $7, $8, $9}'
$B ls -lan a | $B grep '^d' | $B grep -v ' \.\.$' | $B awk '{print $1, $2, $3, $4, $9}'
echo "== ls -l --full-time"
$B ls -l --full-time a/f1 a/b/f2 | $B awk '{print $1, $5, $6, $7, $9}'
echo "== find"
$B find a | $B sort
$B find a -type f -name 'f*' | $B sort
echo "== du"
$B du -a a/f1 a/b/f2
echo "== stat"
$B stat -c '%n %s %a %F %h' a/f1 a/b/f2
$B stat -c '%n %a %F %h' a/b a
echo "== chmod"
$B chmod 640 a/f1
$B chmod -R g+w a/b
$B ls -l a/f1 | $B cut -c1-10
$B ls -ld a/b a/b/c | $B cut -c1-10
echo "== ln -s, readlink, realpath"
$B ln -s f1 a/link
$B ln a/f1 a/hard
$B readlink a/link
$B realpath a/link | $B sed "s|^$1|D|"
$B ls -l a/hard | $B awk '{print $1, $2}'
echo "== touch"
$B touch a/new
$B test -f a/new && echo created
echo "== tar"
$B tar cf t.tar a
$B tar tf t.tar | $B sort
$B mkdir x
cd x
$B tar xf ../t.tar
$B find a | $B sort
$B cat a/f1
$B readlink a/link
$B tar xf ../t.tar
$B cat a/f1
cd ..
echo "== dd"
$B dd if=/dev/zero of=z bs=1024 count=3 2>/dev/null
$B ls -l z | $B awk '{print $5}'
$B dd if=a/b/f2 bs=1 skip=10 count=5 2>/dev/null
echo
echo "== xargs"
echo a b c | $B xargs -n1 echo
$B seq 1 5 | $B xargs echo sum
echo "== timeout"
$B timeout 1 $B sleep 5 2>/dev/null || echo "timeout status $?"
$B timeout 5 $B true && echo "in time"
echo "== time"
$B time -p $B true 2>&1 | $B sed 's/^/~/'
echo "== rm -r"
$B rm -r a x
$B ls
echo "== id"
$B id -u
$B id -g
echo "== date"
$B date -u -d '2021-03-04 05:06:07' '+%Y-%m-%d %H:%M:%S %a'
$B date +%Y | $B sed 's/^/~/'
echo "== uptime"
$B uptime | $B sed 's/.*load/~load/'
echo "== free"
$B free | $B sed 's/^/~/'
echo "== df, mount"
$B df /proc
$B mount | $B grep -c ' /proc type proc '
echo "== ps"
$B ps | $B head -1
$B sleep 3 &
$B sleep 1
$B ps -o ppid,args | $B grep "^ *$$ " | $B grep -c '[s]leep 3'
kill $!
echo "== top"
$B top -b -n 1 | $B grep -E '^(Mem|CPU|Load)' | $B sed 's/^/~/'
echo "== done"
