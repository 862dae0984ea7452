/*
 * mm_files: files and file mappings, using the program's own executable
 * (argv[0]), and the /proc files the memory manager provides.
 */
#include "tap.h"
#include <elf.h>
#include <sys/stat.h>

/* Reads the whole file into an anonymous mapping (pread, offset 0). */
static char *slurp(int fd, size_t size)
{
    char *buf = anon_pages((size + PAGE - 1) / PAGE);
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        if (r <= 0)
            return NULL;
        got += (size_t)r;
    }
    return buf;
}

static long vmstat(const char *key)
{
    if (read_file("/proc/vmstat") < 0)
        return -1;
    const char *l = find_line(key);
    return l ? strtol(l + strlen(key), NULL, 10) : -1;
}

int main(int argc, char **argv)
{
    tap_init();
    proc_init();
    if (argc < 1 || !argv[0]) {
        printf("Bail out! no argv[0]\n");
        return 1;
    }
    const char *self = argv[0];
    printf("# argv[0] = %s\n", self);

    int fd = open(self, O_RDONLY);
    if (!check(fd >= 0, "open(argv[0])", "open(%s): %s", self, strerror(errno)))
        return tap_done() | 1;

    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    ssize_t n = read(fd, &eh, sizeof eh);
    check(n == (ssize_t)sizeof eh, "read the 64-byte ELF header", "read returned %zd", n);
    check(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0, "the file starts with the ELF magic \\x7fELF",
          "bytes %02x %02x %02x %02x", eh.e_ident[0], eh.e_ident[1], eh.e_ident[2], eh.e_ident[3]);
    check(eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64, "it is a 64-bit x86-64 ELF",
          "class %d, machine %d", eh.e_ident[EI_CLASS], eh.e_machine);
    check(lseek(fd, 0, SEEK_CUR) == (off_t)sizeof eh, "the file offset advanced by the read", "offset %ld",
          (long)lseek(fd, 0, SEEK_CUR));

    struct stat st;
    check_ok(fstat(fd, &st), "fstat");
    off_t end = lseek(fd, 0, SEEK_END);
    check(end == st.st_size && end > (off_t)PAGE, "fstat's size equals lseek(SEEK_END), more than a page",
          "st_size %ld, SEEK_END %ld", (long)st.st_size, (long)end);
    check(S_ISREG(st.st_mode), "it is a regular file", "mode %o", (unsigned)st.st_mode);
    char tail;
    check(read(fd, &tail, 1) == 0, "read at end of file returns 0", "not 0");
    size_t size = (size_t)st.st_size;
    printf("# %s: %zu bytes\n", self, size);

    char *data = slurp(fd, size);
    check(data != NULL, "pread the whole file", "pread failed");

    /* A read-only private mapping shows the same bytes as read(). */
    char *map = sys_mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (check(map != MAP_FAILED, "mmap the file MAP_PRIVATE PROT_READ", "mmap: %s", strerror(errno)) && data) {
        check(memcmp(map, data, size) == 0, "the mapping matches read() byte for byte", "differs");
        size_t rest = PAGE_ALIGN(size) - size;
        int zero = 1;
        for (size_t i = 0; i < rest; i++)
            zero &= ((volatile char *)map)[size + i] == 0;
        check(zero, "the last page is zero past the end of the file", "non-zero bytes past EOF");
        struct vma v;
        int r = vma_at((uintptr_t)map, &v);
        const char *base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
        size_t bl = strlen(base), nl = r == 1 ? strlen(v.name) : 0;
        check(r == 1 && strcmp(v.perms, "r--p") == 0 && nl >= bl && strcmp(v.name + nl - bl, base) == 0,
              "/proc/self/maps shows the mapping r--p with the file's name", "found %d: %s %s", r,
              r == 1 ? v.perms : "", r == 1 ? v.name : "");
        sys_munmap(map, size);
    }

    /* A mapping at a page offset. */
    char *off = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    if (check(off != MAP_FAILED, "mmap one page at file offset 4096", "mmap: %s", strerror(errno)) && data)
        check(memcmp(off, data + PAGE, size - PAGE < PAGE ? size - PAGE : PAGE) == 0,
              "it shows the file's second page", "differs");
    if (off != MAP_FAILED)
        sys_munmap(off, PAGE);

    /* A writable private mapping: writes stay private. */
    char *cow = sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (check(cow != MAP_FAILED, "mmap the file MAP_PRIVATE PROT_READ|PROT_WRITE", "mmap: %s", strerror(errno))) {
        char before = cow[100];
        memcpy(cow, "NOTANELF", 8);
        cow[100] = (char)~before;
        check(memcmp(cow, "NOTANELF", 8) == 0 && cow[100] == (char)~before, "the private mapping takes the writes",
              "it does not");
        char again[8];
        ssize_t r = pread(fd, again, sizeof again, 0);
        check(r == 8 && memcmp(again, ELFMAG, SELFMAG) == 0, "read() still returns the original bytes", "got %.4s",
              again);
        char *fresh = sys_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
        check(fresh != MAP_FAILED && memcmp(fresh, ELFMAG, SELFMAG) == 0 && fresh[100] == before,
              "a new mapping of the file still shows the original bytes", "it does not");
        if (fresh != MAP_FAILED)
            sys_munmap(fresh, PAGE);
        sys_munmap(cow, size);
    }
    close(fd);

    /* /proc/self/maps */
    long len = read_file("/proc/self/maps");
    check(len > 0, "read /proc/self/maps", "read_file: %s", strerror(errno));
    print_maps();

    /* /proc/self/status */
    len = read_file("/proc/self/status");
    check(len > 0, "read /proc/self/status", "read_file: %s", strerror(errno));
    const char *keys[] = {"VmSize:", "VmRSS:", "VmData:", "VmStk:", "VmExe:", "RssAnon:"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char desc[64];
        snprintf(desc, sizeof desc, "/proc/self/status has a %s line in kB", keys[i]);
        const char *l = find_line(keys[i]);
        char *unit = NULL;
        long kb = l ? strtol(l + strlen(keys[i]), &unit, 10) : -1;
        check(l && kb >= 0 && strncmp(unit, " kB\n", 4) == 0, desc, "%s", l ? "not \"N kB\"" : "missing");
    }
    printf("# /proc/self/status:\n");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        print_line(keys[i]);

    /* /proc/meminfo */
    len = read_file("/proc/meminfo");
    check(len > 0, "read /proc/meminfo", "read_file: %s", strerror(errno));
    const char *total = find_line("MemTotal:"), *free_ = find_line("MemFree:");
    long t = total ? strtol(total + 9, NULL, 10) : -1, f = free_ ? strtol(free_ + 8, NULL, 10) : -1;
    check(t > 0 && f >= 0 && f <= t, "/proc/meminfo has MemTotal and MemFree <= MemTotal", "MemTotal %ld, MemFree %ld",
          t, f);
    printf("# /proc/meminfo:\n");
    print_lines(3);

    /* /proc/buddyinfo */
    len = read_file("/proc/buddyinfo");
    check(len > 0 && strncmp(proc_buf, "Node 0, zone", 12) == 0, "/proc/buddyinfo starts with \"Node 0, zone\"",
          "%.20s", proc_buf);
    printf("# /proc/buddyinfo:\n");
    print_lines(4);

    /* /proc/vmstat: pgfault counts the faults of touching new pages. */
    long pf0 = vmstat("pgfault ");
    check(pf0 > 0, "/proc/vmstat has a pgfault count", "pgfault %ld", pf0);
    char *fresh = anon_pages(8);
    for (int i = 0; i < 8; i++)
        fresh[i * PAGE] = 1;
    long pf1 = vmstat("pgfault ");
    check(pf1 - pf0 >= 8, "writing 8 new pages raises pgfault by at least 8", "pgfault %ld -> %ld", pf0, pf1);
    printf("# /proc/vmstat:\n");
    print_line("pgfault ");
    print_line("pgmajfault ");
    print_line("nr_free_pages ");

    return tap_done();
}
