# A stand-in kernel for tests/tests/hostile_guest.rs: maps the stats
# device's virtio-mmio registers (a 2 MiB page at the end of the boot
# mapping), writes pseudo-random values to every register 200 times
# (reading each back), then exit(0x43).
.intel_syntax noprefix
.code64
.include "map_stats_mmio.inc"
    mov r8d, 0x12345678
    mov r9d, 200
1:  xor esi, esi
2:  mov [rdi + rsi], r8d
    mov eax, [rdi + rsi]
    imul r8d, r8d, 1103515245
    add r8d, 12345
    add esi, 4
    cmp esi, 0x200
    jb 2b
    dec r9d
    jnz 1b
    mov dx, 0x500
    mov eax, 0x43
    out dx, eax
3:  jmp 3b
