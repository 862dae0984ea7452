/*
 * fork's cost per present PTE (issue 17): touches PAGES private pages,
 * then forks three times, each child exiting at once, and unmaps the
 * pages. Run under `--count-instructions --cmdline count=syscalls` with
 * two page counts; the difference of fork's mean over the difference of
 * pages is the per-PTE cost, the rest its fixed part (BENCHMARKS.md).
 *
 * usage: bench_fork [PAGES]   (default 0)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long pages = argc > 1 ? atol(argv[1]) : 0;
    if (pages < 0 || pages > (1L << 20)) {
        fprintf(stderr, "bench_fork: PAGES must be 0..1048576\n");
        return 2;
    }
    size_t len = (size_t)(pages + 1) * 4096;
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (long i = 0; i < pages; i++)
        p[i * 4096] = 1;
    for (int r = 0; r < 3; r++) {
        pid_t c = fork();
        if (c < 0) {
            perror("fork");
            return 1;
        }
        if (c == 0)
            _exit(0);
        int status;
        if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench_fork: the child did not exit cleanly\n");
            return 1;
        }
    }
    if (munmap(p, len) != 0) {
        perror("munmap");
        return 1;
    }
    printf("bench_fork: %ld pages, 3 forks\n", pages);
    return 0;
}
