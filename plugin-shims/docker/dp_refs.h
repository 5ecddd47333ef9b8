/*
 * dp_refs.h - the mount references of one Docker volume: how many times
 * each mount ID holds it, and in which boot each reference was taken.
 *
 * dockerd counts on a volume staying mounted while any (volume, ID) pair it
 * mounted has not been unmounted as often: `docker cp` and container
 * creation send a Mount/Unmount pair with an ID the container already
 * holds. So a reference is a count per ID, never set membership. Mounts
 * without an ID (dvdcli, hence Mesos) share one holder, the ID "": any
 * number of ID-less Mounts give it a count of 1, one ID-less Unmount
 * releases it.
 *
 * The table is kept in the store as the volume property "docker.refs"
 * (JSON, see dp_refs_format), so it survives restarts of the plugin and of
 * dockerd. Each reference carries the boot identifier of the machine
 * (/proc/sys/kernel/random/boot_id) when it was last taken: after a reboot
 * no container holds anything, so references of another boot are leaks
 * (a crashed dockerd never sends the Unmounts it owed) and are dropped.
 *
 * Invariants: every count is >= 1 (an entry at 0 is removed); an ID occurs
 * at most once; the ID "" has a count of exactly 1 when present.
 *
 * Pure data structure: no I/O, thread-compatible (callers lock).
 */
#ifndef DP_REFS_H
#define DP_REFS_H

#include <stddef.h>

#define DP_REFS_PROP "docker.refs"
#define DP_BOOT_ID_LEN 64

struct dp_ref {
	char *id;		       /* "" for the shared ID-less holder */
	unsigned long count;	       /* >= 1 */
	char boot[DP_BOOT_ID_LEN + 1]; /* boot id when last taken */
};

struct dp_refs {
	struct dp_ref *v;
	size_t len;
};

/*
 * dp_refs_parse - fill *@out (caller's, zeroed or cleared) from @text (the
 * property value; NULL or "" means no references). Entries that do not
 * make sense (no id, count < 1) are skipped.
 * Errors: -EINVAL @text is not the JSON dp_refs_format writes; -ENOMEM.
 * On error *@out is left empty.
 */
int dp_refs_parse(const char *text, struct dp_refs *out);

/* The property value for @r: {"version":1,"refs":[{"id","count","boot"}]}.
 * Returns a malloc'd string (caller frees) or NULL on ENOMEM. */
char *dp_refs_format(const struct dp_refs *r);

/* Take one reference for @id ("" or NULL: the ID-less holder) in boot
 * @boot. Errors: -ENOMEM (nothing changed). */
int dp_refs_take(struct dp_refs *r, const char *id, const char *boot);

/* Release one reference of @id ("" or NULL: the ID-less holder). Returns 1
 * when one was released, 0 when @id held none. */
int dp_refs_release(struct dp_refs *r, const char *id);

/* Drop every reference not taken in boot @boot; returns how many entries
 * went. */
size_t dp_refs_drop_other_boots(struct dp_refs *r, const char *boot);

/* Sum of all counts (0: nobody holds the volume). */
unsigned long dp_refs_total(const struct dp_refs *r);

/* Free the entries; @r is empty afterwards (safe to call twice). */
void dp_refs_clear(struct dp_refs *r);

#endif /* DP_REFS_H */
