/*
 * leave_behind: an init that leaves everything behind when it exits, as
 * real programs do: children asleep in a pipe read, in nanosleep and
 * running in user mode, files it created in the root filesystem, and
 * its own console descriptors closed or replaced. None of it is a leak:
 * the kernel kills and reaps the children and empties the filesystem
 * before it checks that every page and slab object came back.
 *
 * Guest only: natively its children would outlive it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return 1;
    if (fork() == 0) {
        char c;
        read(pfd[0], &c, 1); /* nobody ever writes */
        _exit(2);
    }
    if (fork() == 0) {
        struct timespec ts = {1000, 0};
        nanosleep(&ts, NULL);
        _exit(3);
    }
    if (fork() == 0) {
        for (volatile unsigned long i = 0;; i++)
            ;
    }
    mkdir("/leftovers", 0755);
    int fd = open("/leftovers/data", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    static char buf[3 * 4096];
    memset(buf, 'x', sizeof buf);
    write(fd, buf, sizeof buf);
    /* fd stays open; the console's descriptors go or are replaced. */
    close(0);
    dup2(2, 1);
    write(1, "leave_behind: done\n", 19);
    return 0;
}
