/*
 * Telling a service manager how the daemon is doing: systemd's readiness
 * protocol (sd_notify), for a unit of Type=notify.  Without NOTIFY_SOCKET
 * in the environment every call does nothing.  Part of the FUSE adapter:
 * main.c says when the mount is up and when it goes.
 */
#ifndef REGFS_FS_NOTIFY_H
#define REGFS_FS_NOTIFY_H

/* The mount at @mountpoint answers: READY=1, with a STATUS= naming it. */
void notify_ready(const char *mountpoint);
/* It is being unmounted: STOPPING=1. */
void notify_stopping(void);

#endif
