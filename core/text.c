/* Text loading and the char and byte tokenizers (API in text.h). Host memory only. The
 * UTF-8 here is strict (RFC 3629): what the loader accepts, the encoder takes back and
 * the decoder reproduces byte for byte. */
#include "text.h"

#include "../backends/base.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* the most bytes a text may have: below 2^31, so a token count and every offset fit an int32 */
#define TEXT_MAX_BYTES ((size_t)INT32_MAX)
/* one past the last code point */
#define UNICODE_END 0x110000u

static void *need(void *p) { return zoo__need(p, "text"); }

/* ---------------------------------------------------------------- UTF-8 */

/* Decodes the character at s, of which avail >= 1 bytes may be read. Returns its length
 * (1 to 4) with the code point in *cp, or 0 with the reason in why. */
static int utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp, char *why, size_t why_n) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xc0) {
        snprintf(why, why_n, "continuation byte 0x%02X without a lead byte", c);
        return 0;
    }
    if (c >= 0xf8) {
        snprintf(why, why_n, "byte 0x%02X never appears in UTF-8", c);
        return 0;
    }
    int len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    uint32_t v = c & (0x7fu >> len);
    for (int k = 1; k < len; k++) {
        if ((size_t)k == avail) {
            snprintf(why, why_n, "truncated: lead byte 0x%02X starts %d bytes, the text ends after %d", c, len, k);
            return 0;
        }
        if ((s[k] & 0xc0) != 0x80) {
            snprintf(why, why_n, "lead byte 0x%02X starts %d bytes, but its byte %d is 0x%02X, not a continuation", c,
                     len, k + 1, s[k]);
            return 0;
        }
        v = v << 6 | (s[k] & 0x3fu);
    }
    int shortest = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
    if (shortest < len) {
        snprintf(why, why_n, "overlong form: U+%04X in %d bytes, which takes %d", (unsigned)v, len, shortest);
        return 0;
    }
    if (v >= 0xd800 && v <= 0xdfff) {
        snprintf(why, why_n, "surrogate U+%04X, which UTF-8 never encodes", (unsigned)v);
        return 0;
    }
    if (v >= UNICODE_END) {
        snprintf(why, why_n, "U+%X is past U+10FFFF, the last code point", (unsigned)v);
        return 0;
    }
    *cp = v;
    return len;
}

/* Writes cp (a valid code point) as UTF-8 into out; returns its length. */
static int utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the character at s + i of a text that is known to be valid. */
static int utf8_next_valid(const unsigned char *s, size_t len, size_t i, uint32_t *cp) {
    char why[128];
    int k = utf8_decode(s + i, len - i, cp, why, sizeof why);
    ZOO_ASSERT(k > 0);
    return k;
}

/* 0 when the len bytes at s are text (valid UTF-8 without NUL); else -1 with "<name>:
 * <what> at byte <offset>: <why>" */
static int check_text(const char *name, const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] == 0) {
            zoo_set_error("%s: NUL byte at byte %zu: binary data, not text", name, i);
            return -1;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        char why[128];
        int k = utf8_decode(s + i, len - i, &cp, why, sizeof why);
        if (k == 0) {
            zoo_set_error("%s: invalid UTF-8 at byte %zu: %s", name, i, why);
            return -1;
        }
        i += (size_t)k;
    }
    return 0;
}

/* ---------------------------------------------------------------- tokenizing */

/* cp's id in an increasing vocabulary, or -1 when it is not there */
static int32_t vocab_index(const uint32_t *vocab, int size, uint32_t cp) {
    int lo = 0, hi = size;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (vocab[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < size && vocab[lo] == cp ? lo : -1;
}

/* the code points marked in a bitmap of UNICODE_END bits, increasing */
static uint32_t *vocab_from_bits(const uint64_t *bits, int *size) {
    int n = 0;
    for (uint32_t w = 0; w < UNICODE_END / 64; w++) n += __builtin_popcountll(bits[w]);
    uint32_t *vocab = need(malloc((size_t)(n > 0 ? n : 1) * sizeof *vocab));
    int k = 0;
    for (uint32_t w = 0; w < UNICODE_END / 64; w++)
        for (uint64_t m = bits[w]; m; m &= m - 1) vocab[k++] = w * 64 + (uint32_t)__builtin_ctzll(m);
    *size = n;
    return vocab;
}

/* The char tokenizer: first every code point into tokens, then each replaced by its id. */
static void tokenize_chars(const unsigned char *s, size_t len, zoo_text *t) {
    uint64_t *seen = need(calloc(UNICODE_END / 64, sizeof *seen));
    int64_t n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        i += (size_t)utf8_next_valid(s, len, i, &cp);
        seen[cp / 64] |= 1ull << (cp % 64);
        t->tokens[n] = (int32_t)cp;
    }
    t->vocab = vocab_from_bits(seen, &t->vocab_size);
    free(seen);
    for (int64_t i = 0; i < n; i++) t->tokens[i] = vocab_index(t->vocab, t->vocab_size, (uint32_t)t->tokens[i]);
    int32_t *shrunk = realloc(t->tokens, (size_t)n * sizeof *t->tokens);
    if (shrunk) t->tokens = shrunk;
    t->n = n;
}

/* Tokenizes text already checked by check_text (non-empty, below the size limit). */
static int tokenize(const unsigned char *s, size_t len, zoo_tokenizer tok, zoo_text *out) {
    zoo_text t = {.tokenizer = tok, .tokens = malloc(len * sizeof(int32_t))};
    if (!t.tokens) {
        zoo_set_error("out of memory for %zu tokens", len);
        return -1;
    }
    if (tok == ZOO_TOKENIZER_CHAR) {
        tokenize_chars(s, len, &t);
    } else {
        for (size_t i = 0; i < len; i++) t.tokens[i] = s[i];
        t.n = (int64_t)len;
        t.vocab_size = 256;
    }
    *out = t;
    return 0;
}

static bool tokenizer_known(zoo_tokenizer tok) { return tok == ZOO_TOKENIZER_CHAR || tok == ZOO_TOKENIZER_BYTE; }

int zoo_text_from_utf8(const char *s, size_t len, zoo_tokenizer tok, zoo_text *out) {
    if ((!s && len > 0) || !out || !tokenizer_known(tok)) {
        zoo_set_error("zoo_text_from_utf8: needs text, an output and a known tokenizer (got %d)", (int)tok);
        return -1;
    }
    if (len == 0) {
        zoo_set_error("text: empty: no characters to learn from");
        return -1;
    }
    if (len > TEXT_MAX_BYTES) {
        zoo_set_error("text: %zu bytes: zoo's texts stay below 2^31 bytes", len);
        return -1;
    }
    if (check_text("text", (const unsigned char *)s, len)) return -1;
    return tokenize((const unsigned char *)s, len, tok, out);
}

void zoo_text_free(zoo_text *t) {
    if (!t) return;
    free(t->tokens);
    free(t->vocab);
    *t = (zoo_text){0};
}

/* ---------------------------------------------------------------- files */

/* a growing buffer of checked text */
typedef struct text_buf {
    unsigned char *bytes;
    size_t len, cap;
} text_buf;

/* Makes room for `more` bytes; -1 with a message naming path when the text would reach
 * the limit or memory runs out. */
static int reserve(text_buf *b, size_t more, const char *path) {
    if (more > TEXT_MAX_BYTES - b->len) {
        zoo_set_error("%s: the text would reach %zu bytes with this file: zoo's texts stay below 2^31 bytes", path,
                      b->len + more);
        return -1;
    }
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    unsigned char *grown = realloc(b->bytes, cap);
    if (!grown) {
        zoo_set_error("%s: out of memory for %zu bytes of text", path, cap);
        return -1;
    }
    b->bytes = grown;
    b->cap = cap;
    return 0;
}

/* Appends the file at path to b once it is checked to be text. */
static int append_file(text_buf *b, const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        zoo_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        zoo_set_error("%s: not a regular file", path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (reserve(b, size, path)) {
        fclose(fp);
        return -1;
    }
    size_t got = fread(b->bytes + b->len, 1, size, fp);
    fclose(fp);
    if (got != size) {
        zoo_set_error("%s: read %zu of %zu bytes", path, got, size);
        return -1;
    }
    if (check_text(path, b->bytes + b->len, size)) return -1;
    b->len += size;
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* what a folder's listing keeps: not hidden, not a fortune index */
static bool wanted_name(const char *name) {
    size_t len = strlen(name);
    return name[0] != '.' && !(len >= 4 && strcmp(name + len - 4, ".dat") == 0);
}

/* The paths of dir's regular files (lstat, so no symlinks) with wanted names, sorted by
 * name; NULL with a message when dir cannot be read. The caller frees each and the array. */
static char **list_files(const char *dir, int *count) {
    DIR *d = opendir(dir);
    if (!d) {
        zoo_set_error("%s: cannot open folder: %s", dir, strerror(errno));
        return NULL;
    }
    int n = 0, cap = 16;
    char **names = need(malloc((size_t)cap * sizeof *names));
    for (struct dirent *e; (e = readdir(d));) {
        if (!wanted_name(e->d_name)) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *path = need(malloc(len));
        snprintf(path, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) names = need(realloc(names, (size_t)(cap *= 2) * sizeof *names));
        names[n++] = path;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    *count = n;
    return names;
}

/* Appends every listed file of dir to b; -1 at the first that fails. */
static int append_folder(text_buf *b, const char *dir) {
    int count = 0;
    char **paths = list_files(dir, &count);
    if (!paths) return -1;
    int rc = 0;
    for (int i = 0; i < count; i++) {
        if (rc == 0) rc = append_file(b, paths[i]);
        free(paths[i]);
    }
    free(paths);
    if (rc == 0 && count == 0) {
        zoo_set_error("%s: no text files in this folder (symlinks, subfolders, hidden and .dat files are skipped)",
                      dir);
        return -1;
    }
    if (rc == 0 && b->len == 0) {
        zoo_set_error("%s: its %d text files are all empty", dir, count);
        return -1;
    }
    return rc;
}

int zoo_text_load(const char *path, zoo_tokenizer tok, zoo_text *out) {
    if (!path || !out || !tokenizer_known(tok)) {
        zoo_set_error("zoo_text_load: needs a path, an output and a known tokenizer (got %d)", (int)tok);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        zoo_set_error("%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    text_buf b = {0};
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = append_folder(&b, path);
    } else {
        rc = append_file(&b, path);
        if (rc == 0 && b.len == 0) {
            zoo_set_error("%s: empty file: no characters to learn from", path);
            rc = -1;
        }
    }
    if (rc == 0) rc = tokenize(b.bytes, b.len, tok, out);
    free(b.bytes);
    return rc;
}

/* ---------------------------------------------------------------- vocabulary */

/* true when t has the vocabulary its tokenizer needs; else records why */
static bool has_vocab(const zoo_text *t, const char *where) {
    bool ok = t && (t->tokenizer == ZOO_TOKENIZER_BYTE ||
                    (t->tokenizer == ZOO_TOKENIZER_CHAR && t->vocab && t->vocab_size > 0));
    if (!ok) zoo_set_error("%s: the text has no vocabulary (NULL, freed, or never loaded)", where);
    return ok;
}

char *zoo_text_vocab_string(const zoo_text *t) {
    if (!has_vocab(t, "zoo_text_vocab_string")) return NULL;
    if (t->tokenizer == ZOO_TOKENIZER_BYTE) return need(strdup(""));
    char *s = need(malloc((size_t)t->vocab_size * 4 + 1));
    size_t len = 0;
    for (int i = 0; i < t->vocab_size; i++) len += (size_t)utf8_encode(t->vocab[i], s + len);
    s[len] = '\0';
    return s;
}

int zoo_text_vocab_from_string(const char *s, zoo_text *out) {
    if (!s || !out) {
        zoo_set_error("zoo_text_vocab_from_string: needs a string and an output");
        return -1;
    }
    if (!s[0]) {
        *out = (zoo_text){.tokenizer = ZOO_TOKENIZER_BYTE, .vocab_size = 256};
        return 0;
    }
    size_t len = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    if (check_text("vocabulary string", u, len)) return -1;
    uint32_t *vocab = need(malloc(len * sizeof *vocab));
    int n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t at = i;
        i += (size_t)utf8_next_valid(u, len, i, &cp);
        if (n > 0 && cp <= vocab[n - 1]) {
            zoo_set_error("vocabulary string: U+%04X at byte %zu follows U+%04X: characters must be distinct and "
                          "increasing", (unsigned)cp, at, (unsigned)vocab[n - 1]);
            free(vocab);
            return -1;
        }
        vocab[n++] = cp;
    }
    *out = (zoo_text){.tokenizer = ZOO_TOKENIZER_CHAR, .vocab = vocab, .vocab_size = n};
    return 0;
}

/* ---------------------------------------------------------------- encoding */

/* Appends ", U+XXXX 'c'" (no comma when first) to msg of length *len when it fits with
 * room left for the closing count; false when it does not. Control characters are
 * named by number alone. */
static bool name_one(char *msg, size_t cap, size_t *len, uint32_t cp, bool first) {
    char item[32], utf8[5] = {0};
    utf8_encode(cp, utf8);
    bool control = cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
    int k = control ? snprintf(item, sizeof item, "%s U+%04X", first ? "" : ",", (unsigned)cp)
                    : snprintf(item, sizeof item, "%s U+%04X '%s'", first ? "" : ",", (unsigned)cp, utf8);
    if (*len + (size_t)k + 24 >= cap) return false;
    memcpy(msg + *len, item, (size_t)k + 1);
    *len += (size_t)k;
    return true;
}

/* Appends each marked code point to msg while they fit, then how many did not. */
static void name_missing(char *msg, size_t cap, const uint64_t *missing, int count) {
    size_t len = strlen(msg);
    int named = 0;
    for (uint32_t w = 0; w < UNICODE_END / 64; w++)
        for (uint64_t m = missing[w]; m; m &= m - 1) {
            uint32_t cp = w * 64 + (uint32_t)__builtin_ctzll(m);
            if (!name_one(msg, cap, &len, cp, named == 0)) {
                snprintf(msg + len, cap - len, ", and %d more", count - named);
                return;
            }
            named++;
        }
}

/* Sets the error for the marked characters that are not in the vocabulary. */
static void missing_error(const uint64_t *missing) {
    int count = 0;
    for (uint32_t w = 0; w < UNICODE_END / 64; w++) count += __builtin_popcountll(missing[w]);
    char msg[1000];
    snprintf(msg, sizeof msg, "zoo_text_encode: %d character%s not in the vocabulary:", count, count == 1 ? "" : "s");
    name_missing(msg, sizeof msg, missing, count);
    zoo_set_error("%s", msg);
}

/* The char tokenizer's ids for the valid UTF-8 at s; -1 naming what the vocabulary lacks. */
static int encode_chars(const zoo_text *t, const unsigned char *s, size_t len, int32_t *ids, int64_t *n) {
    uint64_t *missing = NULL;
    int64_t k = 0;
    for (size_t i = 0; i < len; k++) {
        uint32_t cp;
        i += (size_t)utf8_next_valid(s, len, i, &cp);
        ids[k] = vocab_index(t->vocab, t->vocab_size, cp);
        if (ids[k] >= 0) continue;
        if (!missing) missing = need(calloc(UNICODE_END / 64, sizeof *missing));
        missing[cp / 64] |= 1ull << (cp % 64);
    }
    if (missing) {
        missing_error(missing);
        free(missing);
        return -1;
    }
    *n = k;
    return 0;
}

int zoo_text_encode(const zoo_text *t, const char *s, int32_t **ids, int64_t *n) {
    if (!has_vocab(t, "zoo_text_encode")) return -1;
    if (!s || !ids || !n) {
        zoo_set_error("zoo_text_encode: needs a string and two outputs");
        return -1;
    }
    size_t len = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    if (check_text("zoo_text_encode", u, len)) return -1;
    int32_t *out = malloc((len > 0 ? len : 1) * sizeof *out);
    if (!out) {
        zoo_set_error("zoo_text_encode: out of memory for %zu ids", len);
        return -1;
    }
    int64_t count = (int64_t)len;
    if (t->tokenizer == ZOO_TOKENIZER_BYTE) {
        for (size_t i = 0; i < len; i++) out[i] = u[i];
    } else if (encode_chars(t, u, len, out, &count)) {
        free(out);
        return -1;
    }
    *ids = out;
    *n = count;
    return 0;
}

char *zoo_text_decode(const zoo_text *t, const int32_t *ids, int64_t n) {
    if (!has_vocab(t, "zoo_text_decode")) return NULL;
    if (n < 0 || (n > 0 && !ids)) {
        zoo_set_error("zoo_text_decode: needs n >= 0 ids (got %lld%s)", (long long)n, ids ? "" : ", ids NULL");
        return NULL;
    }
    bool bytes = t->tokenizer == ZOO_TOKENIZER_BYTE;
    int size = bytes ? 256 : t->vocab_size;
    size_t len = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= size) {
            zoo_set_error("zoo_text_decode: id %d at position %lld is outside the vocabulary (0 to %d)", (int)ids[i],
                          (long long)i, size - 1);
            return NULL;
        }
        uint32_t cp = bytes ? 0 : t->vocab[ids[i]];
        len += bytes || cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    char *s = malloc(len + 1);
    if (!s) {
        zoo_set_error("zoo_text_decode: out of memory for %zu bytes", len + 1);
        return NULL;
    }
    size_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        if (bytes) s[at++] = (char)ids[i];
        else at += (size_t)utf8_encode(t->vocab[ids[i]], s + at);
    }
    s[at] = '\0';
    return s;
}

/* ---------------------------------------------------------------- splits */

/* tokens [from, from + count) of t with a copy of its vocabulary; -1 out of memory */
static int text_part(const zoo_text *t, int64_t from, int64_t count, zoo_text *out) {
    zoo_text p = {.tokenizer = t->tokenizer, .n = count, .vocab_size = t->vocab_size};
    p.tokens = malloc((size_t)count * sizeof *p.tokens);
    if (!p.tokens) {
        zoo_set_error("zoo_text_split: out of memory for %lld tokens", (long long)count);
        return -1;
    }
    memcpy(p.tokens, t->tokens + from, (size_t)count * sizeof *p.tokens);
    if (t->vocab) {
        p.vocab = need(malloc((size_t)t->vocab_size * sizeof *p.vocab));
        memcpy(p.vocab, t->vocab, (size_t)t->vocab_size * sizeof *p.vocab);
    }
    *out = p;
    return 0;
}

int zoo_text_split(const zoo_text *t, double frac, zoo_text *a, zoo_text *b) {
    if (!has_vocab(t, "zoo_text_split")) return -1;
    if (!a || !b || a == b || a == t || b == t || (t->n > 0 && !t->tokens)) {
        zoo_set_error("zoo_text_split: needs a text and two distinct outputs other than it");
        return -1;
    }
    double k = round(frac * (double)t->n);
    if (!(frac >= 0 && frac <= 1) || k < 1 || k >= (double)t->n) {
        zoo_set_error("zoo_text_split: a fraction of %g of %lld tokens leaves a part empty", frac, (long long)t->n);
        return -1;
    }
    zoo_text first, rest;
    if (text_part(t, 0, (int64_t)k, &first)) return -1;
    if (text_part(t, (int64_t)k, t->n - (int64_t)k, &rest)) {
        zoo_text_free(&first);
        return -1;
    }
    *a = first;
    *b = rest;
    return 0;
}
