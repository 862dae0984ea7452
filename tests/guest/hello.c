/*
 * hello: the smallest C program. Built dynamically linked (hello_dyn), it
 * shows what the kernel says about a program it cannot execute as init.
 */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
