/* First-touch fault cost: maps anonymous memory and writes one byte per
 * page, timing the loop with CLOCK_MONOTONIC. Prints ns per page for a
 * write fault (page allocated), a read fault (zero page mapped) and a
 * write to an already-mapped page (no fault), so the fault's share is
 * visible. `bench_fault [PAGES [huge|nohuge]]` (default 256 pages, no
 * advice): `huge` aligns the written mapping to 2 MiB and advises it
 * MADV_HUGEPAGE, `nohuge` advises MADV_NOHUGEPAGE (4 KiB pages whatever
 * the transparent huge page mode). */
#include "tap.h"

#include <time.h>

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long pages = argc > 1 ? atol(argv[1]) : 256;
    const char *advice = argc > 2 ? argv[2] : "";
    int huge = strcmp(advice, "huge") == 0, nohuge = strcmp(advice, "nohuge") == 0;
    if (pages <= 0 || pages > 1 << 20 || (*advice && !huge && !nohuge)) {
        fprintf(stderr, "usage: bench_fault [PAGES [huge|nohuge]]\n");
        return 2;
    }
    const size_t hpage = 2UL << 20;
    char *w = anon_pages(pages + (huge ? hpage / PAGE : 0));
    if (huge) {
        w = (char *)(((uintptr_t)w + hpage - 1) & ~(hpage - 1));
        sys_madvise(w, pages * PAGE, MADV_HUGEPAGE);
    } else if (nohuge) {
        sys_madvise(w, pages * PAGE, MADV_NOHUGEPAGE);
    }
    char *r = anon_pages(pages);
    volatile char sink = 0;

    long t0 = now_ns();
    for (long i = 0; i < pages; i++)
        w[i * PAGE] = 1;
    long t1 = now_ns();
    for (long i = 0; i < pages; i++)
        sink += r[i * PAGE];
    long t2 = now_ns();
    for (long i = 0; i < pages; i++)
        w[i * PAGE] = 2;
    long t3 = now_ns();
    (void)sink;
    printf("pages %ld%s%s\n", pages, *advice ? ", " : "", advice);
    printf("write fault (new page): %ld ns/page\n", (t1 - t0) / pages);
    printf("read fault (zero page): %ld ns/page\n", (t2 - t1) / pages);
    printf("write, already mapped: %ld ns/page\n", (t3 - t2) / pages);
    return 0;
}
