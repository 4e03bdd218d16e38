/* placeholder: being written */
typedef int regfs_placeholder_client;
