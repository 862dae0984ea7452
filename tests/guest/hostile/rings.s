# A stand-in kernel for tests/tests/hostile_guest.rs: sets the stats device
# up as a virtio driver would (two queues of 16 at 8 MiB), then 300 times
# fills the rings with pseudo-random bytes (some descriptors kept inside
# RAM, heads and next indices near the queue size, the available index
# advancing by one) and notifies both queues; then exit(0x44). Chains
# that loop, are too long, point outside RAM, go the wrong way or are
# indirect all come up.
.intel_syntax noprefix
.code64
.include "map_stats_mmio.inc"
    mov rbp, 0xffffffff80800000
    mov dword ptr [rdi + 0x70], 0
    mov dword ptr [rdi + 0x70], 3
    mov dword ptr [rdi + 0x24], 1
    mov dword ptr [rdi + 0x20], 1
    mov dword ptr [rdi + 0x70], 0xb
    xor ecx, ecx
5:  mov [rdi + 0x30], ecx
    mov dword ptr [rdi + 0x38], 16
    mov eax, ecx
    shl eax, 14
    lea edx, [eax + 0x800000]
    mov [rdi + 0x80], edx
    mov dword ptr [rdi + 0x84], 0
    lea edx, [eax + 0x801000]
    mov [rdi + 0x90], edx
    mov dword ptr [rdi + 0x94], 0
    lea edx, [eax + 0x802000]
    mov [rdi + 0xa0], edx
    mov dword ptr [rdi + 0xa4], 0
    mov dword ptr [rdi + 0x44], 1
    inc ecx
    cmp ecx, 2
    jb 5b
    mov dword ptr [rdi + 0x70], 0xf
    mov r8, 0x123456789abcdef
    mov r11, 6364136223846793005
    mov r12, 1442695040888963407
    mov r9d, 300
    xor r13d, r13d
1:  xor esi, esi
2:  mov [rbp + rsi], r8
    imul r8, r11
    add r8, r12
    add esi, 8
    cmp esi, 0x8000
    jb 2b
    inc r13d
.set i, 0
.rept 16
    and word ptr [rbp + 0x1004 + 2*i], 0x1f
    and word ptr [rbp + 0x5004 + 2*i], 0x1f
    and word ptr [rbp + 16*i + 14], 0x1f
    and word ptr [rbp + 0x4000 + 16*i + 14], 0x1f
.set i, i+1
.endr
.set i, 0
.rept 8
    and dword ptr [rbp + 32*i], 0x07ffffff
    mov dword ptr [rbp + 32*i + 4], 0
    and dword ptr [rbp + 32*i + 8], 0x3ffff
    and dword ptr [rbp + 0x4000 + 32*i], 0x07ffffff
    mov dword ptr [rbp + 0x4000 + 32*i + 4], 0
    and dword ptr [rbp + 0x4000 + 32*i + 8], 0x3ffff
.set i, i+1
.endr
    mov word ptr [rbp + 0x1000], 0
    mov [rbp + 0x1002], r13w
    mov word ptr [rbp + 0x5000], 0
    mov [rbp + 0x5002], r13w
    mov dword ptr [rdi + 0x50], 0
    mov dword ptr [rdi + 0x50], 1
    mov eax, [rdi + 0x60]
    mov [rdi + 0x64], eax
    dec r9d
    jnz 1b
    mov dx, 0x500
    mov eax, 0x44
    out dx, eax
3:  jmp 3b
