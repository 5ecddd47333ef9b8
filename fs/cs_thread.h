/*
 * cs_thread.h - stopping the daemon's helper threads (the gc and reaper
 * threads, the flusher of each FUSE session, a send stream's producer):
 * each waits on a condition variable for a flag telling it to return.
 */
#ifndef CS_THREAD_H
#define CS_THREAD_H

#include <pthread.h>

/*
 * Set *@flag to 1 under @lock, wake every waiter on @cond and join
 * @thread. The thread must return once it sees the flag set.
 */
void cs_thread_stop(pthread_t thread, pthread_mutex_t *lock, pthread_cond_t *cond, int *flag);

#endif /* CS_THREAD_H */
