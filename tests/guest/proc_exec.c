/* execve in children: every fatal case of `fatal` run as a child (argv[1]
 * is fatal's path), each dying of SIGSEGV while this parent goes on; and
 * the text of a program running twice is the same page-cache pages,
 * visible as shared in /proc/self/smaps. */
#include "tap.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static const char *cases[] = { "null", "rodata", "protread", "protnone", "kernel-direct", "kernel-text", "nx" };

/* Shared_Clean + Shared_Dirty (kB) of the first executable mapping in
 * smaps. (Linux counts a page-cache page not yet written back as dirty: a
 * freshly built binary's text shows as Shared_Dirty there.) */
static long text_shared_clean(const char *smaps_path)
{
    int fd = open(smaps_path, O_RDONLY);
    if (fd < 0)
        return -1;
    long n = 0, r;
    while ((r = read(fd, proc_buf + n, sizeof proc_buf - 1 - n)) > 0)
        n += r;
    close(fd);
    proc_buf[n] = 0;
    for (char *l = proc_buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        /* "start-end r-xp offset dev inode path" */
        char *sp = strchr(l, ' ');
        if (sp && strncmp(sp + 1, "r-xp", 4) == 0) {
            char *sc = strstr(l, "Shared_Clean:");
            char *sd = strstr(l, "Shared_Dirty:");
            return sc && sd ? atol(sc + 13) + atol(sd + 13) : -1;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    /* Run as a #! script's interpreter: argv is [this, "script-mode",
     * the script's path, the caller's arguments...]. */
    if (argc > 1 && strcmp(argv[1], "script-mode") == 0)
        return argc == 4 && strstr(argv[2], "rvmm-script") && strcmp(argv[3], "arg1") == 0 ? 42 : 43;
    if (argc > 1 && strcmp(argv[1], "hold") == 0) {
        /* Running (text mapped and touched): say so on fd 3, then stay
         * until the parent closes fd 4's other end. */
        char b = 'r';
        if (write(3, &b, 1) != 1)
            return 1;
        while (read(4, &b, 1) > 0)
            ;
        return 0;
    }
    tap_init();
    memset(proc_buf, 0, sizeof proc_buf);
    const char *fatal = argc > 1 ? argv[1] : "/bin/fatal";
    int sigsegv = 0;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t c = fork();
        if (c == 0) {
            /* The child's "about to" line would interleave with TAP. */
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0)
                dup2(null, 1);
            char *args[] = { (char *)fatal, (char *)cases[i], NULL };
            execve(fatal, args, NULL);
            _exit(100);
        }
        int st;
        waitpid(c, &st, 0);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
            sigsegv++;
        else
            printf("# fatal %s: status %#x\n", cases[i], st);
    }
    check(sigsegv == 7, "every fatal case dies of SIGSEGV as a child, and the parent goes on", "%d of 7", sigsegv);

    long alone = text_shared_clean("/proc/self/smaps");
    /* The child holds on until the parent has looked: no timing. */
    int ready[2], hold[2];
    if (pipe(ready) || pipe(hold))
        return 1;
    pid_t c = fork();
    if (c == 0) {
        dup2(ready[1], 3);
        dup2(hold[0], 4);
        close(hold[1]);
        char *args[] = { argv[0], "hold", NULL };
        execve(argv[0], args, NULL);
        _exit(100);
    }
    close(ready[1]);
    close(hold[0]);
    char b;
    if (read(ready[0], &b, 1) != 1)
        printf("# the child did not report running\n");
    long both = text_shared_clean("/proc/self/smaps");
    close(hold[1]);
    int st;
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the same program runs again in a child", "status %#x", st);
    check(both > alone && both > 0, "its text pages are shared with the child (Shared_* in smaps)",
          "alone %ld kB, with the child %ld kB", alone, both);

    /* A #! script whose interpreter is this program: execve runs it with
     * its argument, the script's path and the caller's arguments. */
    char script[64];
    mkdir("/tmp", 01777);
    snprintf(script, sizeof script, "/tmp/rvmm-script-%d", (int)getpid());
    int fd = open(script, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    dprintf(fd, "#! %s script-mode\nnot read\n", argv[0]);
    close(fd);
    c = fork();
    if (c == 0) {
        char *args[] = { script, "arg1", NULL };
        execve(script, args, NULL);
        _exit(100 + errno);
    }
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 42, "a #! script runs its interpreter with the argument, its path and ours",
          "status %#x", st);
    fd = open(script, O_WRONLY | O_TRUNC);
    dprintf(fd, "#!\n");
    close(fd);
    errno = 0;
    int r = execve(script, (char *[]){ script, NULL }, NULL);
    check(r == -1 && errno == ENOEXEC, "a #! line without an interpreter: ENOEXEC", "errno %d", errno);
    unlink(script);
    return tap_done();
}
