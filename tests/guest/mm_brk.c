/*
 * mm_brk: the brk system call, raw (musl's brk() wrapper refuses to work,
 * and its malloc does not use the break the way this test needs).
 */
#include "tap.h"

int main(void)
{
    tap_init();
    proc_init();

    uintptr_t cur = sys_brk(0);
    check(cur != 0, "brk(0) returns the current break", "brk(0) = %#lx", (unsigned long)cur);
    check(sys_brk(0) == cur, "brk(0) again returns the same break", "second brk(0) = %#lx", (unsigned long)sys_brk(0));
    printf("# initial break %#lx\n", (unsigned long)cur);

    /* The first whole page above the break: the one growing by a page adds. */
    uintptr_t page = PAGE_ALIGN(cur);
    struct vma v;
    check(vma_at(page, NULL) == 0, "the page above the initial break is not mapped", "mapped");

    /* Grow by one page. */
    uintptr_t grown = sys_brk(cur + PAGE);
    check(grown == cur + PAGE, "brk(cur + 4096) grows the break by a page", "brk returned %#lx, want %#lx",
          (unsigned long)grown, (unsigned long)(cur + PAGE));
    if (grown != cur + PAGE) {
        printf("Bail out! brk cannot grow\n");
        return tap_done() | 1;
    }
    check(sys_brk(0) == cur + PAGE, "brk(0) reports the new break", "brk(0) = %#lx", (unsigned long)sys_brk(0));

    volatile char *p = (volatile char *)cur;
    int zero = 1;
    for (size_t i = 0; i < PAGE; i++)
        zero &= p[i] == 0;
    check(zero, "the new heap memory reads as zero", "a non-zero byte");
    for (size_t i = 0; i < PAGE; i++)
        p[i] = (char)(i * 7 + 1);
    int kept = 1;
    for (size_t i = 0; i < PAGE; i++)
        kept &= p[i] == (char)(i * 7 + 1);
    check(kept, "the new heap page keeps what was written", "a byte changed");

    int found = vma_named("[heap]", &v);
    check(found == 1, "/proc/self/maps has a [heap] line after growing", "vma_named = %d", found);
    if (found == 1)
        check(v.start <= cur && v.end == PAGE_ALIGN(cur + PAGE) && strcmp(v.perms, "rw-p") == 0,
              "[heap] is rw-p and ends at the page-aligned break", "[heap] %#lx-%#lx %s, break %#lx",
              (unsigned long)v.start, (unsigned long)v.end, v.perms, (unsigned long)(cur + PAGE));

    /* Shrink back: the page goes away (not touched: it would fault). */
    uintptr_t shrunk = sys_brk(cur);
    check(shrunk == cur, "brk(cur) shrinks the break back", "brk returned %#lx", (unsigned long)shrunk);
    check(vma_at(page, &v) == 0, "the page above the break is unmapped again (maps)", "still in %#lx-%#lx %s %s",
          (unsigned long)v.start, (unsigned long)v.end, v.perms, v.name);
    found = vma_named("[heap]", &v);
    check(found == 0 || v.end <= PAGE_ALIGN(cur), "[heap] (if any) ends at or below the page-aligned break",
          "[heap] %#lx-%#lx", (unsigned long)v.start, (unsigned long)v.end);

    /* Grow again: the old contents are gone, the page is zero again. */
    if (check(sys_brk(cur + PAGE) == cur + PAGE, "brk grows again after shrinking", "brk(0) = %#lx",
              (unsigned long)sys_brk(0))) {
        zero = 1;
        for (uintptr_t a = page; a < cur + PAGE; a++)
            zero &= *(volatile char *)a == 0;
        check(zero, "a page given back and grown again reads as zero", "old data survived");
        sys_brk(cur);
    }

    /* Below the initial start: refused, the break does not move. */
    uintptr_t low = sys_brk(cur - 64 * 1024);
    check(low == cur, "brk below the start of the heap returns the unchanged break", "brk returned %#lx, want %#lx",
          (unsigned long)low, (unsigned long)cur);
    check(sys_brk(0) == cur, "brk(0) after the refused call is unchanged", "brk(0) = %#lx", (unsigned long)sys_brk(0));

    /* A mapping placed two pages above the break: growing into it is refused. */
    char *block = (char *)(page + 2 * PAGE);
    void *m = sys_mmap(block, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (check(m == block, "MAP_FIXED_NOREPLACE places a page just above the heap", "mmap returned %p (%s), want %p", m,
              m == MAP_FAILED ? strerror(errno) : "ok", (void *)block)) {
        block[0] = 'M';
        uintptr_t over = sys_brk(page + 4 * PAGE);
        check(over == cur, "brk growing over an existing mapping is refused (returns the old break)",
              "brk returned %#lx, want %#lx", (unsigned long)over, (unsigned long)cur);
        check(sys_brk(0) == cur, "the break did not move", "brk(0) = %#lx", (unsigned long)sys_brk(0));
        check(block[0] == 'M', "the mapping above the heap is untouched", "its byte is %d", block[0]);
        check(vma_at((uintptr_t)block, &v) == 1 && v.start == (uintptr_t)block && strcmp(v.name, "[heap]") != 0,
              "the mapping is still its own VMA", "%#lx-%#lx %s", (unsigned long)v.start, (unsigned long)v.end,
              v.name);
        check_ok(sys_munmap(block, PAGE), "munmap the mapping above the heap");
    }

    print_maps();
    return tap_done();
}
