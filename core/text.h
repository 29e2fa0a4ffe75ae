/* Text as token ids for character-level models: loading files or folders of UTF-8,
 * a character or byte vocabulary, encoding, decoding and splits. Host memory only:
 * nothing here touches tensors or the backend.
 *
 * A text is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF)
 * with no NUL character, so every text, vocabulary string and decoded string is an
 * ordinary C string. */
#ifndef ZOO_TEXT_H
#define ZOO_TEXT_H

#include "../backends/types.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Debian's fortunes package puts its texts here (the default text of text models) */
#define ZOO_FORTUNES_DIR "/usr/share/games/fortunes"

typedef enum zoo_tokenizer { ZOO_TOKENIZER_CHAR = 0, ZOO_TOKENIZER_BYTE = 1 } zoo_tokenizer;

/* A text as token ids.
 *   char: a token is one Unicode code point; ids index vocab, the text's distinct code
 *         points in increasing order, so "abca" has vocab {'a', 'b', 'c'} and tokens
 *         {0, 1, 2, 0}.
 *   byte: a token is one byte of the UTF-8; ids are the byte values 0..255, vocab is
 *         NULL and vocab_size 256.
 * tokens (n ids) and vocab are owned; zoo_text_free frees both. A zero-filled struct
 * is an empty text. */
typedef struct zoo_text {
    int32_t *tokens;
    int64_t n;
    zoo_tokenizer tokenizer;
    uint32_t *vocab;  /* vocab_size code points, increasing; NULL for byte */
    int vocab_size;
} zoo_text;

/* Loads path: a file, or a folder whose files are read in strcmp order of their names
 * and concatenated as they are. In a folder only regular files count: symlinks,
 * subfolders, names starting with '.' and names ending ".dat" (fortune's index files)
 * are skipped, so Debian's /usr/share/games/fortunes loads each text once. Every file
 * must be valid UTF-8 without NUL (the error names the file and the byte offset in
 * it, for either tokenizer), the text non-empty and below 2^31 bytes in all.
 * Returns 0 and fills *out (the caller frees with zoo_text_free), or -1 with
 * zoo_last_error() and *out untouched. */
ZOO_API int zoo_text_load(const char *path, zoo_tokenizer tok, zoo_text *out);

/* zoo_text_load on the len bytes at s (NUL-terminated or not); errors say "text"
 * where zoo_text_load names a file. */
ZOO_API int zoo_text_from_utf8(const char *s, size_t len, zoo_tokenizer tok, zoo_text *out);

/* Frees tokens and vocab and zeroes *t; a zeroed text may be freed again. */
ZOO_API void zoo_text_free(zoo_text *t);

/* The vocabulary as a string, for checkpoint metadata: char, its characters in id order
 * ("abc" above); byte, the empty string, which no char vocabulary is. The caller frees
 * it with free(). NULL with zoo_last_error() only when t holds no vocabulary. */
ZOO_API char *zoo_text_vocab_string(const zoo_text *t);

/* The inverse: a text with no tokens (tokens NULL, n 0) and the vocabulary s spells:
 * "" gives the byte tokenizer, anything else the char tokenizer, whose characters must
 * be valid UTF-8 in strictly increasing order. Returns 0 and fills *out (the caller
 * frees with zoo_text_free), or -1 with zoo_last_error() and *out untouched. */
ZOO_API int zoo_text_vocab_from_string(const char *s, zoo_text *out);

/* Encodes the NUL-terminated UTF-8 string s with t's vocabulary. Returns 0 with *ids
 * (n ids, malloc'ed even when n is 0; the caller frees it with free()) and *n; or -1
 * with zoo_last_error() and both untouched: s is not valid UTF-8 (the byte offset is
 * named), or (char) characters of s are not in the vocabulary, each named once as
 * U+XXXX and itself ("2 characters not in the vocabulary: U+00E9 'é', U+65E5 '日'"). */
ZOO_API int zoo_text_encode(const zoo_text *t, const char *s, int32_t **ids, int64_t *n);

/* The UTF-8 of n ids as a NUL-terminated string (the caller frees it with free()), or
 * NULL with zoo_last_error() when an id is outside [0, vocab_size). Byte ids are copied
 * as they are, so a byte model's output need not be valid UTF-8, and an id 0 ends the
 * string early. */
ZOO_API char *zoo_text_decode(const zoo_text *t, const int32_t *ids, int64_t n);

/* Splits at a token: the first round(frac * n) tokens become *a, the rest *b, each
 * with its own copy of t's vocabulary (t is unchanged and must not be an output).
 * Returns 0 and fills both (the caller frees each with zoo_text_free), or -1 with
 * zoo_last_error() and both untouched when frac is not in [0, 1] or a part would be
 * empty. */
ZOO_API int zoo_text_split(const zoo_text *t, double frac, zoo_text *a, zoo_text *b);

#ifdef __cplusplus
}
#endif

#endif
