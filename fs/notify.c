/*
 * sd_notify for the FUSE adapter (notify.h).  A message that cannot be sent
 * is logged and otherwise ignored: the mount works whether or not a
 * service manager listens.
 */
#include <string.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "fs/notify.h"

void notify_ready(const char *mountpoint)
{
	int ret = sd_notifyf(0, "READY=1\nSTATUS=mounted at '%s'", mountpoint);

	if (ret < 0)
		log_warn("cannot tell the service manager the mount is ready: %s", strerror(-ret));
	else if (ret > 0)
		log_debug("told the service manager the mount at '%s' is ready", mountpoint);
}

void notify_stopping(void)
{
	int ret = sd_notify(0, "STOPPING=1\nSTATUS=unmounting");

	if (ret < 0)
		log_warn("cannot tell the service manager the mount is stopping: %s",
			 strerror(-ret));
}
