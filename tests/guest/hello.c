/*
 * hello: the smallest C program. Built static (the base of the mutated
 * ELF files in tests/tests/elf_mutants.rs) and dynamically linked (hello_dyn
 * against musl, hello_glibc_dyn against glibc), it runs when its program
 * interpreter is in the guest's root filesystem, and shows what the
 * kernel says about an init it cannot execute when it is not.
 */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
