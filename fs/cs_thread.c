/*
 * cs_thread.c - stopping a helper thread that waits for a flag (see
 * cs_thread.h).
 */
#include "cs_thread.h"

void cs_thread_stop(pthread_t thread, pthread_mutex_t *lock, pthread_cond_t *cond, int *flag)
{
	pthread_mutex_lock(lock);
	*flag = 1;
	pthread_cond_broadcast(cond);
	pthread_mutex_unlock(lock);
	pthread_join(thread, NULL);
}
