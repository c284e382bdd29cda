/* Loaded into the server under valgrind by bench/instructions.sh (LD_PRELOAD), nowhere else.
 *
 * Valgrind 3.19 (Debian 12's) edits the signal mask that a program passes to sigsuspend in
 * place. libdispatch passes a mask in read-only memory when Swift's async main parks the main
 * thread (dispatch_main), so every Swift program with an async main dies under valgrind 3.19
 * with "Valgrind received a signal 11" at start-up. This sigsuspend hands the kernel a copy in
 * writable memory; otherwise it is the C library's. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
