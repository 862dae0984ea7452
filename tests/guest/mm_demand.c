/*
 * mm_demand: demand paging seen through /proc/self/status. A 64 MiB
 * anonymous mapping costs no memory until touched; each written page costs
 * one page; pages only read map the shared zero page (not counted in
 * RssAnon); munmap gives the memory back.
 */
#include "tap.h"

#define MIB (1024UL * 1024)
#define BIG (64 * MIB)
#define TOUCH 64 /* pages written, one per MiB */

static long rss_anon(void) { return status_kb("RssAnon:"); }
static long vm_rss(void) { return status_kb("VmRSS:"); }

int main(void)
{
    tap_init();
    proc_init();
    printf("# mm_demand: 64 MiB mapping, %d pages touched\n", TOUCH);

    long rss0 = vm_rss(), anon0 = rss_anon(), size0 = status_kb("VmSize:");
    check(rss0 > 0 && anon0 >= 0 && size0 > 0, "/proc/self/status has VmRSS, RssAnon and VmSize",
          "VmRSS %ld, RssAnon %ld, VmSize %ld", rss0, anon0, size0);

    char *big = sys_mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!check(big != MAP_FAILED, "mmap 64 MiB anonymous", "mmap: %s", strerror(errno)))
        return tap_done() | 1;
    /* Base pages only: with transparent huge pages a touch would fault in
     * 2 MiB. A kernel without THP may refuse the advice; that is fine. */
    sys_madvise(big, BIG, MADV_NOHUGEPAGE);

    long rss1 = vm_rss(), size1 = status_kb("VmSize:");
    check(rss1 - rss0 < 1024, "mapping 64 MiB grows VmRSS by less than 1 MiB", "VmRSS %ld kB -> %ld kB", rss0, rss1);
    check(size1 - size0 >= (long)(BIG / 1024), "VmSize grows by at least 64 MiB", "VmSize %ld kB -> %ld kB", size0,
          size1);

    long anon1 = rss_anon();
    for (int i = 0; i < TOUCH; i++)
        big[i * MIB + (i % 7) * 512] = (char)(i + 1);
    long anon2 = rss_anon();
    long grew = anon2 - anon1, want = TOUCH * PAGE / 1024;
    printf("# RssAnon %ld kB -> %ld kB after writing %d pages\n", anon1, anon2, TOUCH);
    check(grew >= want, "writing 64 pages grows RssAnon by at least 64 * 4 kB", "grew %ld kB", grew);
    check(grew < want + 256, "... and by less than 64 * 4 kB + 256 kB", "grew %ld kB", grew);
    int kept = 1;
    for (int i = 0; i < TOUCH; i++)
        kept &= big[i * MIB + (i % 7) * 512] == (char)(i + 1) && big[i * MIB + PAGE - 1] == 0;
    check(kept, "the written pages keep their data (and zeros elsewhere)", "a byte differs");

    /* Reading untouched pages of a fresh mapping: zeros, no new anon memory. */
    char *ro = sys_mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (check(ro != MAP_FAILED, "mmap a second 4 MiB anonymous mapping", "mmap: %s", strerror(errno))) {
        sys_madvise(ro, 4 * MIB, MADV_NOHUGEPAGE);
        long a = rss_anon();
        int zero = 1;
        for (int i = 0; i < TOUCH; i++)
            zero &= ((volatile char *)ro)[i * (4 * MIB / TOUCH) + 100] == 0;
        long b = rss_anon();
        printf("# RssAnon %ld kB -> %ld kB after reading %d fresh pages\n", a, b, TOUCH);
        check(zero, "reading 64 fresh pages gives zeros", "a non-zero byte");
        check(b - a < 64, "reading them maps the zero page: RssAnon grows by less than 64 kB", "grew %ld kB", b - a);
        /* Writing one of them afterwards gets a private page (copy on write of the zero page). */
        ro[100] = 'w';
        check(ro[100] == 'w' && ro[4 * MIB / TOUCH + 100] == 0, "a write after a read gives the page its own copy",
              "ro[100] = %d", ro[100]);
        check_ok(sys_munmap(ro, 4 * MIB), "munmap the 4 MiB mapping");
    }

    long anon3 = rss_anon();
    check_ok(sys_munmap(big, BIG), "munmap the 64 MiB mapping");
    long anon4 = rss_anon(), size4 = status_kb("VmSize:");
    printf("# RssAnon %ld kB -> %ld kB after munmap\n", anon3, anon4);
    check(anon3 - anon4 >= want, "munmap gives the 64 written pages back (RssAnon falls by >= 256 kB)",
          "RssAnon %ld kB -> %ld kB", anon3, anon4);
    check(anon4 - anon1 < 64, "RssAnon is back within 64 kB of where it was before the writes",
          "before %ld kB, now %ld kB", anon1, anon4);
    check(size4 <= size0 + 64, "VmSize is back where it was", "VmSize %ld kB -> %ld kB", size0, size4);

    printf("# /proc/self/status:\n");
    if (read_file("/proc/self/status") >= 0) {
        print_line("VmSize:");
        print_line("VmRSS:");
        print_line("RssAnon:");
        print_line("RssFile:");
    }
    return tap_done();
}
