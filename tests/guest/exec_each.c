/* exec_each PATH...: runs each program in a child of its own, with a 5 s
 * alarm, and reports how it ended, one line each:
 *
 *   exec_each: PATH: execve failed: ERRNO     (the call returned)
 *   exec_each: PATH: signal N                 (the new image was killed)
 *   exec_each: PATH: exit N                   (it ran and exited)
 *
 * then "exec_each: N programs, done". The parent goes on whatever each
 * child does: what the mutated-ELF test (tests/tests/elf_mutants.rs)
 * checks, natively and in the guest. */
#include "tap.h"

#include <signal.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            return 1;
        pid_t c = fork();
        if (c < 0)
            return 1;
        if (c == 0) {
            char *args[] = { argv[i], NULL };
            char *env[] = { "PATH=/bin", NULL };
            close(p[0]);
            alarm(5);
            execve(argv[i], args, env);
            int e = errno;
            if (write(p[1], &e, sizeof e) != sizeof e)
                _exit(126);
            _exit(127);
        }
        close(p[1]);
        int e = 0;
        ssize_t n = read(p[0], &e, sizeof e);
        close(p[0]);
        int st;
        waitpid(c, &st, 0);
        if (n == sizeof e)
            printf("exec_each: %s: execve failed: %s\n", argv[i], strerror(e));
        else if (WIFSIGNALED(st))
            printf("exec_each: %s: signal %d\n", argv[i], WTERMSIG(st));
        else
            printf("exec_each: %s: exit %d\n", argv[i], WEXITSTATUS(st));
    }
    printf("exec_each: %d programs, done\n", argc - 1);
    return 0;
}
