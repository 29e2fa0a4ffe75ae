/* placeholder: being written */
typedef int zoo__placeholder_data;
