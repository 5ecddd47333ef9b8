/*
 * dp_driver_int.h - the driver's state, as the driver's own modules see it
 * (dp_vol, dp_ep_change.c, dp_ep_query.c, dp_recover). main.c and dp_http use
 * dp_driver.h alone and never look inside. dp_driver.c makes and frees it.
 *
 * Nothing here is a cache of the store: volume definitions and mount
 * references are read from the daemon on every call (see dp_driver.h).
 */
#ifndef DP_DRIVER_INT_H
#define DP_DRIVER_INT_H

#include <pthread.h>

#include "dp_driver.h"
#include "dp_refs.h"
#include "dp_root.h"

struct dp_driver {
	pthread_mutex_t lock;	       /* serialises every call; leaf */
	struct cs_client *c;	       /* the daemon's control API; under lock */
	struct dp_root root;	       /* where volumes are mounted; under lock */
	char boot[DP_BOOT_ID_LEN + 1]; /* this boot's id, for dp_refs */
};

#endif /* DP_DRIVER_INT_H */
