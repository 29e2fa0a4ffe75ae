/* libFuzzer target: the input is a text. zoo_text_from_utf8 must accept it exactly when
 * it is non-empty UTF-8 without NUL by an independent check (the Unicode standard's
 * table of well-formed byte sequences); when it does, for each tokenizer, the tokens
 * must decode to the input, encoding that must give the tokens back, the vocabulary
 * string must rebuild the vocabulary, and a split must keep every token. Encoding the
 * input with the vocabulary of its first half, and reading the input as a vocabulary
 * string, must not crash. */
#include "fuzz_files.h"

#include "core/text.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Well-formed UTF-8 by Table 3-7 of The Unicode Standard: per lead byte, the range of
 * the second byte; every later byte 80..BF. */
static bool well_formed(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t b = s[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b <= 0x7f) len = 1;
        else if (b >= 0xc2 && b <= 0xdf) len = 2;
        else if (b == 0xe0) len = 3, lo = 0xa0;
        else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) len = 3;
        else if (b == 0xed) len = 3, hi = 0x9f;
        else if (b == 0xf0) len = 4, lo = 0x90;
        else if (b >= 0xf1 && b <= 0xf3) len = 4;
        else if (b == 0xf4) len = 4, hi = 0x8f;
        else return false;
        if (len > n - i) return false;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) return false;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
        i += len;
    }
    return true;
}

static void check_round_trips(const zoo_text *t, const char *s, size_t size) {
    char *back = zoo_text_decode(t, t->tokens, t->n);
    if (!back || strlen(back) != size || memcmp(back, s, size) != 0) fuzz_fail("the tokens do not decode to the input");
    int32_t *ids = NULL;
    int64_t n = -1;
    if (zoo_text_encode(t, back, &ids, &n) != 0 || n != t->n || memcmp(ids, t->tokens, (size_t)n * 4) != 0)
        fuzz_fail("encoding the input does not give its tokens");
    free(ids);
    free(back);

    char *v = zoo_text_vocab_string(t);
    zoo_text rebuilt;
    if (!v || zoo_text_vocab_from_string(v, &rebuilt) != 0) fuzz_fail("the vocabulary string does not parse");
    if (rebuilt.tokenizer != t->tokenizer || rebuilt.vocab_size != t->vocab_size ||
        (t->vocab && memcmp(rebuilt.vocab, t->vocab, (size_t)t->vocab_size * 4) != 0))
        fuzz_fail("the vocabulary string gives another vocabulary");
    free(v);
    zoo_text_free(&rebuilt);

    zoo_text a, b;
    if (zoo_text_split(t, 0.5, &a, &b) == 0) {
        if (a.n + b.n != t->n || memcmp(a.tokens, t->tokens, (size_t)a.n * 4) != 0 ||
            memcmp(b.tokens, t->tokens + a.n, (size_t)b.n * 4) != 0)
            fuzz_fail("a split lost or moved tokens");
        zoo_text_free(&a);
        zoo_text_free(&b);
    } else if (t->n >= 2) {
        fuzz_fail("a split in half of two or more tokens failed");
    }
}

/* the vocabulary of the input's first half (when that loads) encodes the whole input */
static void encode_with_half(const char *s, size_t size) {
    zoo_text half;
    if (zoo_text_from_utf8(s, size / 2, ZOO_TOKENIZER_CHAR, &half) != 0) return;
    int32_t *ids = NULL;
    int64_t n = 0;
    if (zoo_text_encode(&half, s, &ids, &n) == 0) {
        char *back = zoo_text_decode(&half, ids, n);
        if (!back || strcmp(back, s) != 0) fuzz_fail("encoding with a smaller vocabulary does not round trip");
        free(back);
        free(ids);
    }
    zoo_text_free(&half);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a NUL-terminated copy: encode and the vocabulary parser take C strings */
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    bool text = size > 0 && !memchr(data, 0, size) && well_formed(data, size);
    for (int tok = 0; tok < 2; tok++) {
        zoo_text t;
        int rc = zoo_text_from_utf8(s, size, (zoo_tokenizer)tok, &t);
        if ((rc == 0) != text) fuzz_fail(text ? "a valid text was refused" : "an invalid text was accepted");
        if (rc != 0) continue;
        check_round_trips(&t, s, size);
        zoo_text_free(&t);
    }
    encode_with_half(s, size);
    zoo_text v;
    if (zoo_text_vocab_from_string(s, &v) == 0) zoo_text_free(&v);
    free(s);
    return 0;
}
