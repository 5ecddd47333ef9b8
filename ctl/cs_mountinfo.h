/*
 * cs_mountinfo.h - the one decoder of /proc/self/mountinfo's escapes,
 * shared by cstorfsd and every client (the mount command, the Docker
 * plugin, the FlexVolume driver), which all look up mount points there.
 * It is part of the client library (libcsclient.a) and linked into
 * cstorfsd on its own; it needs nothing else.
 */
#ifndef CS_MOUNTINFO_H
#define CS_MOUNTINFO_H

/* Decode, in place, the octal escapes mountinfo writes for a space, tab,
 * newline and backslash in a path ("\040" ...): a backslash followed by
 * three octal digits becomes that byte; anything else stays as it is. */
void cs_mountinfo_unescape(char *s);

#endif /* CS_MOUNTINFO_H */
