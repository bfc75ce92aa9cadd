// roundtrip: the CRoaring side of tagseg's interoperability test.
//
//   roundtrip read FILE   reads a portable Roaring bitmap and prints
//                         "cardinality N", "containers ARRAY RUN BITMAP",
//                         then each member on its own line, in order;
//   roundtrip write FILE  builds a bitmap from standard input (lines
//                         "add X", "range LO HI" for [LO, HI), "optimize")
//                         and writes it to FILE in the portable format, then
//                         prints what "read" prints first.
//
// Errors go to standard error with exit status 1.
#include <roaring/roaring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void stats(const roaring_bitmap_t *r) {
	roaring_statistics_t st;
	roaring_bitmap_statistics(r, &st);
	printf("cardinality %llu\n", (unsigned long long)roaring_bitmap_get_cardinality(r));
	printf("containers %u %u %u\n", st.n_array_containers, st.n_run_containers, st.n_bitset_containers);
}

static bool print_member(uint32_t v, void *arg) {
	(void)arg;
	printf("%u\n", v);
	return true;
}

static int readFile(const char *path) {
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(n > 0 ? n : 1);
	if (fread(buf, 1, n, f) != (size_t)n) {
		fprintf(stderr, "%s: short read\n", path);
		return 1;
	}
	fclose(f);
	roaring_bitmap_t *r = roaring_bitmap_portable_deserialize_safe(buf, n);
	if (!r) {
		fprintf(stderr, "%s: not a portable Roaring bitmap\n", path);
		return 1;
	}
	size_t used = roaring_bitmap_portable_deserialize_size(buf, n);
	if (used != (size_t)n) {
		fprintf(stderr, "%s: %zu bytes, the bitmap takes %zu\n", path, (size_t)n, used);
		return 1;
	}
	stats(r);
	roaring_iterate(r, print_member, NULL);
	roaring_bitmap_free(r);
	free(buf);
	return 0;
}

static int writeFile(const char *path) {
	roaring_bitmap_t *r = roaring_bitmap_create();
	char line[256];
	while (fgets(line, sizeof line, stdin)) {
		unsigned long long a, b;
		if (sscanf(line, "add %llu", &a) == 1) {
			roaring_bitmap_add(r, (uint32_t)a);
		} else if (sscanf(line, "range %llu %llu", &a, &b) == 2) {
			roaring_bitmap_add_range(r, a, b);
		} else if (strncmp(line, "optimize", 8) == 0) {
			roaring_bitmap_run_optimize(r);
		} else if (line[0] != '\n') {
			fprintf(stderr, "bad line: %s", line);
			return 1;
		}
	}
	size_t n = roaring_bitmap_portable_size_in_bytes(r);
	char *buf = malloc(n);
	if (roaring_bitmap_portable_serialize(r, buf) != n) {
		fprintf(stderr, "serialize: wrong size\n");
		return 1;
	}
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		return 1;
	}
	stats(r);
	roaring_bitmap_free(r);
	free(buf);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "read") == 0) {
		return readFile(argv[2]);
	}
	if (argc == 3 && strcmp(argv[1], "write") == 0) {
		return writeFile(argv[2]);
	}
	fprintf(stderr, "usage: roundtrip read|write FILE\n");
	return 2;
}
