/*
 * run_then_cat: runs a program and then prints a file, for checking what a
 * program nobody here wrote did to the filesystem (busybox tar extracting
 * over an existing file, say), without a shell:
 *
 *   run_then_cat FILE PROGRAM [ARGS...]
 *
 * Spawns PROGRAM with ARGS (posix_spawn), waits for it, prints
 * "status N" with its exit status, then FILE's contents. Exits 0 when
 * the program exited 0 and FILE could be read.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: run_then_cat FILE PROGRAM [ARGS...]\n");
        return 2;
    }
    pid_t pid;
    int e = posix_spawn(&pid, argv[2], NULL, NULL, &argv[2], environ);
    if (e != 0) {
        fprintf(stderr, "run_then_cat: cannot spawn %s: error %d\n", argv[2], e);
        return 1;
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        perror("run_then_cat: waitpid");
        return 1;
    }
    printf("status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("run_then_cat: open");
        return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        write(1, buf, (size_t)n);
    close(fd);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
