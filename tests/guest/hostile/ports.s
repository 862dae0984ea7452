# A stand-in kernel for tests/tests/hostile_guest.rs: every I/O port but exit
# (0x500) and panic (0x508) gets a pseudo-random 32-bit write and a byte
# read, the boot-timer port 2,000 more writes, then exit(0x42).
.intel_syntax noprefix
.code64
    xor ebx, ebx
    mov r8d, 0x12345678
1:
    cmp ebx, 0x500
    je 2f
    cmp ebx, 0x508
    je 2f
    mov edx, ebx
    mov eax, r8d
    out dx, eax
    in al, dx
2:
    imul r8d, r8d, 1103515245
    add r8d, 12345
    inc ebx
    cmp ebx, 0x10000
    jb 1b
    mov ecx, 2000
3:
    mov dx, 0x504
    mov eax, r8d
    out dx, eax
    imul r8d, r8d, 1103515245
    add r8d, 12345
    dec ecx
    jnz 3b
    mov dx, 0x500
    mov eax, 0x42
    out dx, eax
4:
    jmp 4b
