/* seed_main.c - a main() for the fuzz targets outside libFuzzer: every file
 * of the seed directories (or files) named on the command line goes once
 * through LLVMFuzzerTestOneInput, in name order. The normal test build links
 * each target of suites/fuzz with it (ctest -L fuzz-seeds), with the target's
 * own source list, so a target that no longer links, or that crashes on a
 * seed, fails the plain build's ctest and not only scripts/fuzz.sh.
 * Exits 1 when an argument cannot be read or no seed was run at all.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned runs;

/* one input, read whole; 0 on success */
static int run_file(const char *path)
{
  int result = -1;
  FILE *f = fopen(path, "rb");
  uint8_t *data = NULL;
  long len;

  if(!f) {
    fprintf(stderr, "seed: %s: %s\n", path, strerror(errno));
    goto out;
  }
  if(fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "seed: %s: cannot find its size\n", path);
    goto out;
  }
  /* one byte more so an empty file still gets a buffer of its own */
  data = malloc((size_t)len + 1);
  if(!data || fread(data, 1, (size_t)len, f) != (size_t)len) {
    fprintf(stderr, "seed: %s: cannot read it\n", path);
    goto out;
  }
  LLVMFuzzerTestOneInput(data, (size_t)len);
  runs++;
  result = 0;
out:
  free(data);
  if(f)
    fclose(f);
  return result;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* a directory: its regular files in name order; a file: itself */
static int run_path(const char *path)
{
  int result = -1, n = -1;
  struct dirent **names = NULL;
  struct stat st;

  if(stat(path, &st) != 0) {
    fprintf(stderr, "seed: %s: %s\n", path, strerror(errno));
    goto out;
  }
  if(!S_ISDIR(st.st_mode)) {
    result = run_file(path);
    goto out;
  }
  n = scandir(path, &names, NULL, by_name);
  if(n < 0) {
    fprintf(stderr, "seed: %s: %s\n", path, strerror(errno));
    goto out;
  }
  result = 0;
  for(int i = 0; i < n && result == 0; i++) {
    char file[4096];
    struct stat fst;
    snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
    if(stat(file, &fst) == 0 && S_ISREG(fst.st_mode))
      result = run_file(file);
  }
out:
  for(int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return result;
}

int main(int argc, char **argv)
{
  for(int i = 1; i < argc; i++)
    if(run_path(argv[i]) != 0)
      return 1;
  if(runs == 0) {
    fprintf(stderr, "seed: no seed files in the arguments\n");
    return 1;
  }
  printf("seed: %u inputs run\n", runs);
  return 0;
}
