/*
 * Free page reporting (vmm run --balloon): touches MIB MiB of anonymous
 * memory, frees it, sleeps SECS seconds (the kernel reports free memory
 * two seconds after it frees, and the VMM gives it back to the host),
 * then maps as much again and checks every page reads zero where it was
 * not written: reported memory comes back known-zero, never with old
 * data.
 *
 * usage: balloon_free [MIB [SECS]]   (default 32 4)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static char *touch(size_t len, char value) {
    char *p = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    /* Written first, then read: a read first would map the zero page,
     * and the range would stay in 4 KiB pages (no huge pages). */
    for (size_t i = 0; i < len; i += 4096) {
        p[i] = value;
        __asm__ volatile("" ::: "memory"); /* the write stays first */
        if (p[i + 1] != 0 || p[i + 4095] != 0) {
            fprintf(stderr, "balloon_free: fresh page at offset %zu reads %d, not 0\n", i, p[i + 1] | p[i + 4095]);
            exit(1);
        }
    }
    return p;
}

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 32;
    int secs = argc > 2 ? atoi(argv[2]) : 4;
    if (mib <= 0 || mib > 4096 || secs < 0) {
        fprintf(stderr, "balloon_free: MIB must be 1..4096, SECS at least 0\n");
        return 2;
    }
    size_t len = (size_t)mib << 20;
    char *p = touch(len, 1);
    if (munmap(p, len) != 0) {
        perror("munmap");
        return 1;
    }
    sleep(secs);
    p = touch(len, 2);
    munmap(p, len);
    printf("balloon_free: %ld MiB touched, freed, reused: ok\n", mib);
    return 0;
}
