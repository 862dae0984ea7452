/* What `count=futex,thread` measures: a futex ping-pong between two
 * threads (each FUTEX_WAIT is woken by the other's FUTEX_WAKE) and
 * threads created and joined. Prints what it did; exit 0 when all of it
 * worked. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ROUNDS 4
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static int turn; /* 0: main's turn, 1: the other's */

static void wait_for(int mine)
{
    int t;
    while ((t = __atomic_load_n(&turn, __ATOMIC_SEQ_CST)) != mine)
        syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, t, NULL, NULL, 0);
}

static void give(int other)
{
    __atomic_store_n(&turn, other, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *pong(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        wait_for(1);
        give(0);
    }
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

int main(void)
{
    pthread_t th;
    pthread_create(&th, NULL, pong, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        give(1);
        wait_for(0);
    }
    pthread_join(th, NULL);
    int joined = 0;
    for (long i = 0; i < 3; i++) {
        void *ret;
        if (pthread_create(&th, NULL, nothing, (void *)i) == 0 && pthread_join(th, &ret) == 0 && ret == (void *)i)
            joined++;
    }
    printf("futex ping-pong: %d rounds; threads created and joined: %d of 3\n", ROUNDS, joined);
    return joined == 3 ? 0 : 1;
}
