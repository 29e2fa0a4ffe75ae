/* The text loader: char and byte tokenizers, folders read in name order with fortune's
 * index files and symlinks skipped, every class of invalid UTF-8 refused with its
 * offset, encode/decode round trips, vocabulary strings and splits. Writes its files
 * into a fresh directory under /tmp and removes it at the end. */
#include "test.h"
#include "test_files.h"

#include "core/text.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/zoo-test-text-XXXXXX";

/* ---------------------------------------------------------------- helpers */

/* root/name in a ring of buffers, so a call may hold a few at once */
static const char *path_to(const char *name) {
    static char ring[8][512];
    static int next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", root, name);
    return p;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(bytes, 1, n, fp) == n);
    if (fp) fclose(fp);
}

static void write_str(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

static bool mentions(const char *message, const char *part) {
    if (strstr(message, part)) return true;
    fprintf(stderr, "  expected \"%s\" in: %s\n", part, message);
    return false;
}

/* the text's tokens decoded back: what it holds, as a string (the caller frees) */
static char *text_of(const zoo_text *t) { return zoo_text_decode(t, t->tokens, t->n); }

/* a zoo_text filled with a pattern, to see that a failing call leaves it alone */
static zoo_text poisoned(void) {
    zoo_text t;
    memset(&t, 0xa5, sizeof t);
    return t;
}

static bool untouched(const zoo_text *t) {
    zoo_text p = poisoned();
    return memcmp(t, &p, sizeof p) == 0;
}

/* from_utf8 that must fail, leave its output alone and mention `what`; both tokenizers */
static bool refused(const char *s, size_t len, const char *what) {
    bool ok = true;
    for (int tok = 0; tok < 2; tok++) {
        zoo_text t = poisoned();
        ok = ok && zoo_text_from_utf8(s, len, (zoo_tokenizer)tok, &t) == -1 && untouched(&t) &&
             mentions(zoo_last_error(), what);
    }
    return ok;
}

/* "héllo wörld 日本": ASCII, two 2-byte and two 3-byte characters */
static const char *const mixed = "h\xc3\xa9llo w\xc3\xb6rld \xe6\x97\xa5\xe6\x9c\xac";

/* ---------------------------------------------------------------- tokenizers */

TEST(char_vocab_is_the_sorted_code_points_and_ids_index_it) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_CHAR, &t) == 0);
    const uint32_t vocab[11] = {' ', 'd', 'h', 'l', 'o', 'r', 'w', 0xe9, 0xf6, 0x65e5, 0x672c};
    const int32_t ids[14] = {2, 7, 3, 3, 4, 0, 6, 8, 5, 3, 1, 0, 9, 10};
    CHECK(t.tokenizer == ZOO_TOKENIZER_CHAR);
    CHECK(t.vocab_size == 11 && t.vocab && memcmp(t.vocab, vocab, sizeof vocab) == 0);
    CHECK(t.n == 14 && t.tokens && memcmp(t.tokens, ids, sizeof ids) == 0);
    zoo_text_free(&t);
    CHECK(t.tokens == NULL && t.vocab == NULL && t.n == 0);
    zoo_text_free(&t); /* a freed text may be freed again */
}

TEST(byte_tokens_are_the_utf8_bytes) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_BYTE, &t) == 0);
    CHECK(t.tokenizer == ZOO_TOKENIZER_BYTE && t.vocab == NULL && t.vocab_size == 256);
    CHECK(t.n == (int64_t)strlen(mixed));
    bool same = t.tokens != NULL;
    for (int64_t i = 0; same && i < t.n; i++) same = t.tokens[i] == (unsigned char)mixed[i];
    CHECK(same);
    CHECK(t.tokens[1] == 0xc3 && t.tokens[2] == 0xa9);
    zoo_text_free(&t);
}

TEST(a_file_loads_like_the_same_bytes_from_memory) {
    write_str(path_to("mixed.txt"), mixed);
    for (int tok = 0; tok < 2; tok++) {
        zoo_text f, m;
        CHECK(zoo_text_load(path_to("mixed.txt"), (zoo_tokenizer)tok, &f) == 0);
        CHECK(zoo_text_from_utf8(mixed, strlen(mixed), (zoo_tokenizer)tok, &m) == 0);
        CHECK(f.n == m.n && memcmp(f.tokens, m.tokens, (size_t)m.n * 4) == 0);
        CHECK(f.vocab_size == m.vocab_size);
        zoo_text_free(&f);
        zoo_text_free(&m);
    }
}

/* ---------------------------------------------------------------- folders */

TEST(a_folder_is_its_regular_files_in_name_order_without_dat_links_or_hidden) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path_to("corpus"));
    CHECK(mkdir(dir, 0755) == 0);
    write_str(path_to("corpus/b"), "two\n");
    write_str(path_to("corpus/a"), "one\n");
    write_str(path_to("corpus/B"), "Zero\n"); /* strcmp: upper case sorts first */
    /* fortune's index: binary, so reading it would fail the whole load */
    write_bytes(path_to("corpus/a.dat"), "\x00\x00\x00\x02\xff\xfe", 6);
    CHECK(symlink("a", path_to("corpus/a.u8")) == 0);
    write_str(path_to("corpus/.hidden"), "hidden\n");
    CHECK(mkdir(path_to("corpus/sub"), 0755) == 0);
    write_str(path_to("corpus/sub/c"), "nested\n");
    zoo_text t;
    CHECK(zoo_text_load(dir, ZOO_TOKENIZER_CHAR, &t) == 0);
    char *s = text_of(&t);
    CHECK(s && strcmp(s, "Zero\none\ntwo\n") == 0);
    free(s);
    zoo_text_free(&t);
}

TEST(an_invalid_file_in_a_folder_is_named_with_its_own_offset) {
    CHECK(mkdir(path_to("bad_folder"), 0755) == 0);
    write_str(path_to("bad_folder/1_good"), "fine text\n");
    write_bytes(path_to("bad_folder/2_bad"), "ok \xc3\x28", 5);
    zoo_text t = poisoned();
    CHECK(zoo_text_load(path_to("bad_folder"), ZOO_TOKENIZER_BYTE, &t) == -1);
    CHECK(untouched(&t));
    CHECK(mentions(zoo_last_error(), path_to("bad_folder/2_bad")));
    CHECK(mentions(zoo_last_error(), "invalid UTF-8 at byte 3"));
}

TEST(empty_files_and_folders_are_errors) {
    zoo_text t = poisoned();
    write_str(path_to("empty.txt"), "");
    CHECK(zoo_text_load(path_to("empty.txt"), ZOO_TOKENIZER_CHAR, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "empty file"));

    CHECK(mkdir(path_to("empty_dir"), 0755) == 0);
    CHECK(zoo_text_load(path_to("empty_dir"), ZOO_TOKENIZER_CHAR, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "no text files"));

    /* only what the listing skips */
    CHECK(mkdir(path_to("skipped_only"), 0755) == 0);
    write_str(path_to("skipped_only/x.dat"), "index");
    CHECK(symlink("../mixed.txt", path_to("skipped_only/link")) == 0);
    CHECK(zoo_text_load(path_to("skipped_only"), ZOO_TOKENIZER_CHAR, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "no text files"));

    CHECK(mkdir(path_to("empty_files"), 0755) == 0);
    write_str(path_to("empty_files/a"), "");
    write_str(path_to("empty_files/b"), "");
    CHECK(zoo_text_load(path_to("empty_files"), ZOO_TOKENIZER_BYTE, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "2 text files are all empty"));

    CHECK(refused("", 0, "empty"));
    CHECK(zoo_text_load(path_to("missing"), ZOO_TOKENIZER_CHAR, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "cannot open"));
}

TEST(a_text_of_two_gigabytes_is_refused_before_it_is_read) {
    /* a sparse file: no disk space, and the limit is checked before any byte is read */
    const char *path = path_to("huge.txt");
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)1 << 31) == 0);
    if (fd >= 0) close(fd);
    zoo_text t = poisoned();
    CHECK(zoo_text_load(path, ZOO_TOKENIZER_BYTE, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), "2^31"));
    unlink(path);
    CHECK(refused("a", (size_t)1 << 31, "2^31"));
}

/* ---------------------------------------------------------------- UTF-8 */

TEST(every_class_of_invalid_utf8_is_refused_with_its_offset) {
    struct {
        const char *bytes;
        size_t len;
        const char *why;
    } cases[] = {
        {"ab\x80", 3, "continuation byte 0x80 without a lead byte"},
        {"ab\xbf" "cd", 5, "continuation byte 0xBF"},
        {"ab\xe6\x97", 4, "truncated"},
        {"ab\xf0\x9f\x98", 5, "truncated"},
        {"ab\xc3", 3, "truncated"},
        {"ab\xe6" "AB", 5, "not a continuation"},
        {"ab\xc0\xaf", 4, "overlong"},
        {"ab\xc1\xbf", 4, "overlong"},
        {"ab\xe0\x80\xaf", 5, "overlong"},
        {"ab\xe0\x9f\xbf", 5, "overlong"},
        {"ab\xf0\x80\x80\xaf", 6, "overlong"},
        {"ab\xf0\x8f\xbf\xbf", 6, "overlong"},
        {"ab\xed\xa0\x80", 5, "surrogate U+D800"},
        {"ab\xed\xbf\xbf", 5, "surrogate U+DFFF"},
        {"ab\xf4\x90\x80\x80", 6, "past U+10FFFF"},
        {"ab\xf7\xbf\xbf\xbf", 6, "past U+10FFFF"},
        {"ab\xf8\x88\x80\x80\x80", 7, "0xF8 never appears"},
        {"ab\xfe", 3, "0xFE never appears"},
        {"ab\xff", 3, "0xFF never appears"},
        {"ab\0c", 4, "NUL byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(refused(cases[i].bytes, cases[i].len, "text: "));
        CHECK(refused(cases[i].bytes, cases[i].len, "at byte 2"));
        CHECK(refused(cases[i].bytes, cases[i].len, cases[i].why));
    }
    /* and from a file, the message names it */
    write_bytes(path_to("surrogate.txt"), "hello\n\xed\xa0\x80", 9);
    zoo_text t = poisoned();
    CHECK(zoo_text_load(path_to("surrogate.txt"), ZOO_TOKENIZER_CHAR, &t) == -1 && untouched(&t));
    CHECK(mentions(zoo_last_error(), path_to("surrogate.txt")));
    CHECK(mentions(zoo_last_error(), "invalid UTF-8 at byte 6: surrogate"));
}

TEST(the_edges_of_each_utf8_length_are_accepted) {
    /* U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+FFFF, U+10000, U+10FFFF */
    const char *s = "\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
    const uint32_t cps[8] = {0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff};
    zoo_text t;
    CHECK(zoo_text_from_utf8(s, strlen(s), ZOO_TOKENIZER_CHAR, &t) == 0);
    CHECK(t.n == 8 && t.vocab_size == 8 && memcmp(t.vocab, cps, sizeof cps) == 0);
    char *back = text_of(&t);
    CHECK(back && strcmp(back, s) == 0);
    free(back);
    zoo_text_free(&t);
}

/* ---------------------------------------------------------------- encoding */

TEST(encode_then_decode_gives_the_string_back) {
    for (int tok = 0; tok < 2; tok++) {
        zoo_text t;
        CHECK(zoo_text_from_utf8(mixed, strlen(mixed), (zoo_tokenizer)tok, &t) == 0);
        const char *s = "w\xc3\xb6rld \xe6\x9c\xac h\xc3\xa9llo";
        int32_t *ids = NULL;
        int64_t n = -1;
        CHECK(zoo_text_encode(&t, s, &ids, &n) == 0);
        CHECK(n == (tok == ZOO_TOKENIZER_CHAR ? 13 : (int64_t)strlen(s)));
        char *back = zoo_text_decode(&t, ids, n);
        CHECK(back && strcmp(back, s) == 0);
        free(back);
        free(ids);
        /* the text's own tokens decode to the text */
        back = text_of(&t);
        CHECK(back && strcmp(back, mixed) == 0);
        free(back);
        /* the empty string is zero ids, and zero ids the empty string */
        ids = NULL;
        CHECK(zoo_text_encode(&t, "", &ids, &n) == 0 && n == 0 && ids != NULL);
        free(ids);
        back = zoo_text_decode(&t, NULL, 0);
        CHECK(back && back[0] == '\0');
        free(back);
        zoo_text_free(&t);
    }
}

TEST(encode_names_every_character_missing_from_the_vocabulary_once) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_CHAR, &t) == 0);
    int32_t *ids = (int32_t *)&t;
    int64_t n = 77;
    /* '!', 'x' twice, 'ü' and '語' are not in "héllo wörld 日本" */
    CHECK(zoo_text_encode(&t, "h\xc3\xa9! x\xc3\xbc\xe8\xaa\x9ex", &ids, &n) == -1);
    CHECK(ids == (int32_t *)&t && n == 77);
    const char *err = zoo_last_error();
    CHECK(mentions(err, "4 characters not in the vocabulary"));
    CHECK(mentions(err, "U+0021 '!'"));
    CHECK(mentions(err, "U+0078 'x'"));
    CHECK(mentions(err, "U+00FC '\xc3\xbc'"));
    CHECK(mentions(err, "U+8A9E '\xe8\xaa\x9e'"));
    const char *first = strstr(err, "U+0078");
    CHECK(first && !strstr(first + 1, "U+0078"));
    /* a control character is named by number */
    CHECK(zoo_text_encode(&t, "h\xc3\xa9llo\n", &ids, &n) == -1);
    CHECK(mentions(zoo_last_error(), "1 character not in the vocabulary: U+000A"));
    /* many: as many named as the message holds, then how many more */
    char many[200 * 3 + 1];
    for (int i = 0; i < 200; i++) {
        unsigned cp = 0x4e00 + (unsigned)i;
        many[3 * i] = (char)(0xe0 | cp >> 12);
        many[3 * i + 1] = (char)(0x80 | (cp >> 6 & 0x3f));
        many[3 * i + 2] = (char)(0x80 | (cp & 0x3f));
    }
    many[600] = '\0';
    CHECK(zoo_text_encode(&t, many, &ids, &n) == -1);
    CHECK(mentions(zoo_last_error(), "200 characters not in the vocabulary: U+4E00 '\xe4\xb8\x80', U+4E01"));
    CHECK(mentions(zoo_last_error(), "more"));
    /* and invalid UTF-8 by offset */
    CHECK(zoo_text_encode(&t, "hel\xff", &ids, &n) == -1);
    CHECK(mentions(zoo_last_error(), "invalid UTF-8 at byte 3"));
    zoo_text_free(&t);
}

TEST(decode_refuses_ids_outside_the_vocabulary) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_CHAR, &t) == 0);
    int32_t bad[3] = {0, 11, 1};
    CHECK(zoo_text_decode(&t, bad, 3) == NULL);
    CHECK(mentions(zoo_last_error(), "id 11 at position 1 is outside the vocabulary (0 to 10)"));
    bad[1] = -1;
    CHECK(zoo_text_decode(&t, bad, 3) == NULL);
    zoo_text_free(&t);
    zoo_text b;
    CHECK(zoo_text_from_utf8("a", 1, ZOO_TOKENIZER_BYTE, &b) == 0);
    int32_t byte_ids[2] = {255, 256};
    char *one = zoo_text_decode(&b, byte_ids, 1);
    CHECK(one && (unsigned char)one[0] == 255 && one[1] == '\0');
    free(one);
    CHECK(zoo_text_decode(&b, byte_ids, 2) == NULL);
    zoo_text_free(&b);
}

/* ---------------------------------------------------------------- vocabulary */

TEST(the_vocabulary_string_round_trips) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_CHAR, &t) == 0);
    char *v = zoo_text_vocab_string(&t);
    CHECK(v && strcmp(v, " dhlorw\xc3\xa9\xc3\xb6\xe6\x97\xa5\xe6\x9c\xac") == 0);
    zoo_text back = poisoned();
    CHECK(v && zoo_text_vocab_from_string(v, &back) == 0);
    CHECK(back.tokenizer == ZOO_TOKENIZER_CHAR && back.tokens == NULL && back.n == 0);
    CHECK(back.vocab_size == t.vocab_size && memcmp(back.vocab, t.vocab, (size_t)t.vocab_size * 4) == 0);
    /* the rebuilt vocabulary encodes the text to the same ids */
    int32_t *ids = NULL;
    int64_t n = 0;
    CHECK(zoo_text_encode(&back, mixed, &ids, &n) == 0);
    CHECK(n == t.n && ids && memcmp(ids, t.tokens, (size_t)n * 4) == 0);
    free(ids);
    free(v);
    zoo_text_free(&back);
    zoo_text_free(&t);

    /* bytes: the empty string, and back */
    CHECK(zoo_text_from_utf8("xy", 2, ZOO_TOKENIZER_BYTE, &t) == 0);
    v = zoo_text_vocab_string(&t);
    CHECK(v && v[0] == '\0');
    CHECK(v && zoo_text_vocab_from_string(v, &back) == 0);
    CHECK(back.tokenizer == ZOO_TOKENIZER_BYTE && back.vocab == NULL && back.vocab_size == 256);
    free(v);
    zoo_text_free(&t);
}

TEST(a_vocabulary_string_must_be_increasing_distinct_utf8) {
    const char *bad[4] = {"ba", "abb", "a\xe6\x97", "\xff"};
    const char *why[4] = {"U+0061 at byte 1 follows U+0062", "U+0062 at byte 2 follows U+0062", "truncated",
                          "0xFF never appears"};
    for (int i = 0; i < 4; i++) {
        zoo_text t = poisoned();
        CHECK(zoo_text_vocab_from_string(bad[i], &t) == -1 && untouched(&t));
        CHECK(mentions(zoo_last_error(), why[i]));
    }
}

/* ---------------------------------------------------------------- splits */

TEST(split_cuts_at_round_frac_n_and_copies_the_vocabulary) {
    zoo_text t;
    CHECK(zoo_text_from_utf8(mixed, strlen(mixed), ZOO_TOKENIZER_CHAR, &t) == 0);
    double fracs[3] = {0.9, 0.5, 0.04};
    int64_t firsts[3] = {13, 7, 1}; /* round(12.6), 7, round(0.56) */
    for (int i = 0; i < 3; i++) {
        zoo_text a, b;
        CHECK(zoo_text_split(&t, fracs[i], &a, &b) == 0);
        CHECK(a.n == firsts[i] && b.n == t.n - firsts[i]);
        CHECK(memcmp(a.tokens, t.tokens, (size_t)a.n * 4) == 0);
        CHECK(memcmp(b.tokens, t.tokens + a.n, (size_t)b.n * 4) == 0);
        CHECK(a.vocab != t.vocab && b.vocab != t.vocab && a.vocab != b.vocab);
        CHECK(a.vocab_size == 11 && memcmp(a.vocab, t.vocab, 11 * 4) == 0 && memcmp(b.vocab, t.vocab, 11 * 4) == 0);
        zoo_text_free(&a);
        zoo_text_free(&b);
    }
    /* round(0.03 * 14) = 0, round(0.97 * 14) = 14: an empty part */
    double empty[5] = {0.03, 0.97, 0.0, 1.0, NAN};
    for (int i = 0; i < 5; i++) {
        zoo_text a = poisoned(), b = poisoned();
        CHECK(zoo_text_split(&t, empty[i], &a, &b) == -1);
        CHECK(untouched(&a) && untouched(&b));
        CHECK(mentions(zoo_last_error(), "leaves a part empty"));
    }
    zoo_text_free(&t);
}

/* ---------------------------------------------------------------- real data */

/* bytes in the regular, non-.dat, non-hidden files directly in dir */
static int64_t fortune_bytes(const char *dir) {
    DIR *d = opendir(dir);
    int64_t total = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (len >= 4 && strcmp(e->d_name + len - 4, ".dat") == 0)) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    }
    if (d) closedir(d);
    return total;
}

TEST(debian_fortunes_load_each_file_once) {
    const char *dir = "/usr/share/games/fortunes";
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("note: %s is absent (apt-get install fortunes): skipping\n", dir);
        return;
    }
    zoo_text bytes, chars;
    CHECK(zoo_text_load(dir, ZOO_TOKENIZER_BYTE, &bytes) == 0);
    CHECK(bytes.n == fortune_bytes(dir)); /* the .u8 symlinks are not read twice */
    CHECK(zoo_text_load(dir, ZOO_TOKENIZER_CHAR, &chars) == 0);
    CHECK(chars.n > 1000000 && chars.n <= bytes.n);
    CHECK(chars.vocab_size > 90 && chars.vocab_size < 1000);
    bool in_range = true;
    for (int64_t i = 0; i < chars.n; i++)
        in_range = in_range && chars.tokens[i] >= 0 && chars.tokens[i] < chars.vocab_size;
    CHECK(in_range);
    printf("fortunes: %lld bytes, %lld characters, vocabulary of %d\n", (long long)bytes.n, (long long)chars.n,
           chars.vocab_size);
    zoo_text_free(&bytes);
    zoo_text_free(&chars);
}

int main(void) {
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(char_vocab_is_the_sorted_code_points_and_ids_index_it);
    RUN(byte_tokens_are_the_utf8_bytes);
    RUN(a_file_loads_like_the_same_bytes_from_memory);
    RUN(a_folder_is_its_regular_files_in_name_order_without_dat_links_or_hidden);
    RUN(an_invalid_file_in_a_folder_is_named_with_its_own_offset);
    RUN(empty_files_and_folders_are_errors);
    RUN(a_text_of_two_gigabytes_is_refused_before_it_is_read);
    RUN(every_class_of_invalid_utf8_is_refused_with_its_offset);
    RUN(the_edges_of_each_utf8_length_are_accepted);
    RUN(encode_then_decode_gives_the_string_back);
    RUN(encode_names_every_character_missing_from_the_vocabulary_once);
    RUN(decode_refuses_ids_outside_the_vocabulary);
    RUN(the_vocabulary_string_round_trips);
    RUN(a_vocabulary_string_must_be_increasing_distinct_utf8);
    RUN(split_cuts_at_round_frac_n_and_copies_the_vocabulary);
    RUN(debian_fortunes_load_each_file_once);
    remove_tree(root);
    TEST_EXIT();
}
