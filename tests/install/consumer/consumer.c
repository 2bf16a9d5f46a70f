/* Uses only the installed public header: load a model file and print its facts. */
#include <kwvk.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    kwvk_model *m = NULL;
    if (argc < 2 || kwvk_model_load_file(argv[1], &m) != KWVK_OK) {
        fprintf(stderr, "consumer: %s\n", kwvk_last_error());
        return 1;
    }
    kwvk_model_info info;
    kwvk_model_get_info(m, &info);
    printf("%s: %u classes, %llu parameters\n", info.name, info.num_classes, (unsigned long long)info.num_parameters);
    kwvk_model_destroy(m);
    return 0;
}
