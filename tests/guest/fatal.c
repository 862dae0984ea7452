/*
 * fatal CASE: one bad memory access that must kill the program with
 * SIGSEGV (shell-visible: signal 11). It prints what it is about to do
 * first, and "survived" (exit 1) if the access did not kill it.
 *
 *   null           read *(int *)0
 *   rodata         write to a string literal (.rodata)
 *   protread       write to a PROT_READ anonymous page
 *   protnone       read a PROT_NONE page
 *   kernel-direct  read 0xffff888000000000 (the kernel's direct map)
 *   kernel-text    read 0xffffffff81000000 (the kernel image)
 *   nx             call into a PROT_READ|PROT_WRITE (not executable) page
 *
 * Addresses go through a volatile variable so that the compiler cannot
 * see the bad access (and replace it with a trap instruction).
 */
#include "tap.h"

static volatile uintptr_t target;

static void *page(int prot)
{
    void *p = sys_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("fatal: mmap failed: %s\n", strerror(errno));
        exit(2);
    }
    ((volatile char *)p)[0] = (char)0xc3; /* ret, for nx */
    if (sys_mprotect(p, PAGE, prot) != 0) {
        printf("fatal: mprotect failed: %s\n", strerror(errno));
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    tap_init();
    const char *c = argc > 1 ? argv[1] : "";
    enum { READ, WRITE, CALL } how;

    if (strcmp(c, "null") == 0) {
        target = 0, how = READ;
    } else if (strcmp(c, "rodata") == 0) {
        target = (uintptr_t) "a string literal, in .rodata", how = WRITE;
    } else if (strcmp(c, "protread") == 0) {
        target = (uintptr_t)page(PROT_READ), how = WRITE;
    } else if (strcmp(c, "protnone") == 0) {
        target = (uintptr_t)page(PROT_NONE), how = READ;
    } else if (strcmp(c, "kernel-direct") == 0) {
        target = 0xffff888000000000UL, how = READ;
    } else if (strcmp(c, "kernel-text") == 0) {
        target = 0xffffffff81000000UL, how = READ;
    } else if (strcmp(c, "nx") == 0) {
        target = (uintptr_t)page(PROT_READ | PROT_WRITE), how = CALL;
    } else {
        printf("usage: fatal null|rodata|protread|protnone|kernel-direct|kernel-text|nx\n");
        return 2;
    }

    static const char *const verb[] = {"read", "write to", "call"};
    printf("fatal %s: about to %s %#lx\n", c, verb[how], (unsigned long)target);
    fflush(stdout);
    switch (how) {
    case READ:
        printf("fatal %s: read %d\n", c, *(volatile int *)target);
        break;
    case WRITE:
        *(volatile char *)target = 'X';
        break;
    case CALL:
        ((void (*)(void))target)();
        break;
    }
    printf("fatal %s: survived\n", c);
    return 1;
}
