/* registry — the compiled-in plugins. Adding a platform is one line here
 * and one file in plugins/. */
#include <stddef.h>

#include "plugin.h"

extern const struct plugin_ops console_plugin;
extern const struct plugin_ops slack_plugin;
extern const struct source_ops dir_source;

const struct plugin_ops *const plugin_registry[] = {
	&console_plugin,
	&slack_plugin,
	NULL,
};

const struct source_ops *const source_registry[] = {
	&dir_source,
	NULL,
};
