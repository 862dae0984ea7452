/*
 * Swap, driven by MADV_PAGEOUT: anonymous pages go to the swap area and
 * come back on the next touch with their contents, through fork (both
 * processes keep the page), mremap (the entries move), munmap and exit
 * (the slots come free). Run as init with `vmm run --swap FILE:SIZE`;
 * without swap space (natively, on a host without swap) the pages stay,
 * and the checks of what SwapFree says are skipped.
 */
#define _GNU_SOURCE
#include "tap.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>


#define PAGES 256

/* SwapTotal and SwapFree from /proc/meminfo, kB. */
static void swap_kb(long *total, long *free_kb)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    *total = *free_kb = -1;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "SwapTotal: %ld kB", total);
        sscanf(line, "SwapFree: %ld kB", free_kb);
    }
    if (f)
        fclose(f);
}

/* VmSwap from /proc/self/status, kB. */
static long vmswap_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "VmSwap: %ld kB", &kb);
    if (f)
        fclose(f);
    return kb;
}

/* Swap from /proc/self/smaps_rollup, kB. */
static long smaps_swap_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    char line[128];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        sscanf(line, "Swap: %ld kB", &kb);
    if (f)
        fclose(f);
    return kb;
}

/* The /proc/self/pagemap entry of the page at `addr` (pread: the file
 * takes whole 8-byte entries only, which stdio's reads are not). */
static uint64_t pagemap(const void *addr)
{
    uint64_t e = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd >= 0) {
        if (pread(fd, &e, 8, (off_t)((uintptr_t)addr / PAGE * 8)) != 8)
            e = 0;
        close(fd);
    }
    return e;
}

static void fill(unsigned char *p, int pages, int seed)
{
    for (int i = 0; i < pages; i++)
        for (int j = 0; j < (int)PAGE; j += 512)
            p[i * (int)PAGE + j] = (unsigned char)(i * 7 + j / 512 + seed);
}

static int same(const unsigned char *p, int pages, int seed)
{
    for (int i = 0; i < pages; i++)
        for (int j = 0; j < (int)PAGE; j += 512)
            if (p[i * (int)PAGE + j] != (unsigned char)(i * 7 + j / 512 + seed))
                return 0;
    return 1;
}

int main(void)
{
    long total, free0, free1;
    swap_kb(&total, &free0);
    int have = total > 0;
    printf("# swap: %ld kB, %ld kB free\n", total, free0);

    unsigned char *p = mmap(NULL, PAGES * (int)PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(p != MAP_FAILED, "mmap", "%s", "failed");
    fill(p, PAGES, 1);
    check(madvise(p, PAGES * (int)PAGE, MADV_PAGEOUT) == 0, "madvise(MADV_PAGEOUT)", "%s", "failed");
    swap_kb(&total, &free1);
    check(!have || free0 - free1 == PAGES * 4, "the pages went to swap", "free %ld -> %ld kB", free0, free1);
    long vs = vmswap_kb();
    check(!have || vs == PAGES * 4, "VmSwap counts them", "VmSwap %ld kB", vs);
    long ss = smaps_swap_kb();
    check(!have || ss == PAGES * 4, "so does smaps_rollup's Swap", "Swap %ld kB", ss);
    uint64_t pm = pagemap(p + PAGE);
    check(!have || (pm >> 62) == 1, "pagemap says swapped, not present", "entry %#llx", (unsigned long long)pm);
    check(same(p, PAGES, 1), "every page comes back with its contents", "%s", "differs");
    vs = vmswap_kb();
    check(vs == 0, "and VmSwap is 0 again", "VmSwap %ld kB", vs);
    swap_kb(&total, &free1);
    check(free1 == free0, "and their slots are free again", "free %ld, was %ld", free1, free0);

    /* fork with the pages in swap: both read them; the child's writes stay its own. */
    fill(p, PAGES, 2);
    madvise(p, PAGES * (int)PAGE, MADV_PAGEOUT);
    pid_t c = fork();
    if (c == 0) {
        int ok = same(p, PAGES, 2);
        fill(p, PAGES, 3);
        ok &= same(p, PAGES, 3);
        _exit(ok ? 0 : 1);
    }
    int st;
    waitpid(c, &st, 0);
    check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child reads the swapped pages and writes its own copies", "status %#x", st);
    check(same(p, PAGES, 2), "the parent still reads its own", "%s", "differs");
    swap_kb(&total, &free1);
    check(free1 == free0, "all slots free once both have read them", "free %ld, was %ld", free1, free0);

    /* mremap moves swap entries with the mapping. */
    madvise(p, PAGES * (int)PAGE, MADV_PAGEOUT);
    unsigned char *q = mremap(p, PAGES * (int)PAGE, PAGES * (int)PAGE * 2, MREMAP_MAYMOVE);
    check(q != MAP_FAILED, "mremap of a paged-out mapping", "%s", "differs");
    check(same(q, PAGES, 2), "its pages read back at the new address", "%s", "differs");

    /* munmap and exit let the slots go. */
    madvise(q, PAGES * (int)PAGE, MADV_PAGEOUT);
    munmap(q, PAGES * (int)PAGE * 2);
    swap_kb(&total, &free1);
    check(free1 == free0, "munmap frees the slots", "free %ld, was %ld", free1, free0);
    c = fork();
    if (c == 0) {
        unsigned char *r = mmap(NULL, PAGES * (int)PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        fill(r, PAGES, 4);
        madvise(r, PAGES * (int)PAGE, MADV_PAGEOUT);
        _exit(0);
    }
    waitpid(c, &st, 0);
    swap_kb(&total, &free1);
    check(free1 == free0, "a process exiting with pages in swap frees their slots", "free %ld, was %ld", free1, free0);
    return tap_done();
}
