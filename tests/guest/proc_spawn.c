/* Pipes and posix_spawn: a child streams more than a pipe holds to its
 * parent; end of file when the writer goes; O_NONBLOCK; SIGPIPE; output of
 * an exec'd child redirected through a pipe with dup2; posix_spawn (musl:
 * clone(CLONE_VM|CLONE_VFORK) plus an error pipe) of a program and of a
 * missing one. */
#include "tap.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "exit") == 0)
        return atoi(argv[2]);
    if (argc > 2 && strcmp(argv[1], "echo") == 0) {
        printf("%s\n", argv[2]);
        return 0;
    }
    tap_init();

    /* 100 KiB through a 64 KiB pipe: the writer blocks until the reader
     * drains it. */
    int p[2];
    check_ok(pipe(p), "pipe");
    enum { TOTAL = 100 * 1024 };
    pid_t c = fork();
    if (c == 0) {
        close(p[0]);
        static char buf[TOTAL];
        for (int i = 0; i < TOTAL; i++)
            buf[i] = (char)(i * 7);
        _exit(write(p[1], buf, TOTAL) == TOTAL ? 0 : 1);
    }
    close(p[1]);
    static char got[TOTAL + 1];
    long n = 0, r;
    while ((r = read(p[0], got + n, sizeof got - n)) > 0)
        n += r;
    int ok = n == TOTAL;
    for (int i = 0; ok && i < TOTAL; i++)
        ok = got[i] == (char)(i * 7);
    check(ok, "100 KiB pass through a pipe from a child, in order", "read %ld bytes", n);
    check(r == 0, "then end of file once the writer is gone", "last read %ld", r);
    int st;
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer's write() returned the whole count", "status %#x", st);
    close(p[0]);

    /* O_NONBLOCK. */
    check_ok(pipe2(p, O_NONBLOCK | O_CLOEXEC), "pipe2(O_NONBLOCK | O_CLOEXEC)");
    char b;
    errno = 0;
    check_err(read(p[0], &b, 1), EAGAIN, "an empty O_NONBLOCK pipe: EAGAIN");
    check(fcntl(p[0], F_GETFD) == FD_CLOEXEC, "O_CLOEXEC is set on the descriptor", "flags %d", fcntl(p[0], F_GETFD));
    struct stat sb;
    fstat(p[0], &sb);
    check(S_ISFIFO(sb.st_mode), "fstat says FIFO", "mode %o", sb.st_mode);
    close(p[0]);
    close(p[1]);

    /* Writing to a pipe nobody reads: SIGPIPE. */
    pipe(p);
    close(p[0]);
    c = fork();
    if (c == 0) {
        write(p[1], "x", 1);
        _exit(0);
    }
    waitpid(c, &st, 0);
    check(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE, "a write with no reader dies of SIGPIPE", "status %#x", st);
    close(p[1]);

    /* A shell's redirection: dup2 the pipe onto stdout, exec. */
    pipe(p);
    c = fork();
    if (c == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char *args[] = { argv[0], "echo", "hello through a pipe", NULL };
        execve(argv[0], args, environ);
        _exit(100);
    }
    close(p[1]);
    n = 0;
    while ((r = read(p[0], got + n, 100 - n)) > 0)
        n += r;
    got[n] = 0;
    close(p[0]);
    waitpid(c, &st, 0);
    check(strcmp(got, "hello through a pipe\n") == 0, "an exec'd child's stdout arrives through the pipe", "'%s'", got);

    /* posix_spawn. */
    pid_t sp;
    char *args[] = { argv[0], "exit", "7", NULL };
    int e = posix_spawn(&sp, argv[0], NULL, NULL, args, environ);
    check(e == 0, "posix_spawn of a program", "error %d", e);
    waitpid(sp, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 7, "the spawned program ran with its arguments", "status %#x", st);
    char *missing[] = { "/no/such/program", NULL };
    e = posix_spawn(&sp, missing[0], NULL, NULL, missing, environ);
    check(e == ENOENT, "posix_spawn of a missing program fails with ENOENT", "error %d", e);
    return tap_done();
}
