/* TEST-ONLY, NEVER PACKAGED. Loads the packaged engine as Windows loads it (LoadLibraryW of
 * runtimes\win-x64\native\managedidentity_engine.dll by full path) and drives operations
 * through the C ABI the interop assembly uses (rust/ffi/src/lib.rs; the C# view is
 * powershell/ManagedIdentity/interop/NativeMethods.g.cs):
 *
 *   engine_abi.exe <engine.dll> <expected ABI version> <request.json> [<secret.json>]
 *                  [--then <request.json>]...
 *
 * prints "ABI=<n>", then for each operation every intermediate chunk as "CHUNK=<json>" and the
 * final one as "RESULT=<json>" (one line each: {"events":[...],"done":bool,"result"|"error":...}).
 * Each --then runs a further operation in the same process, once the previous one is done, with
 * the literal "@HANDLE@" (quotes included) in its request replaced by the "Handle" of the previous
 * result: e.g. identity.connect, then graph.grant on that context. Exit codes: 0 every operation
 * done (each chunk says result or error), 2 the DLL did not load or lacks an export, 3 ABI
 * mismatch, 4 an unexpected status (e.g. Panic = 6: a panic reached the boundary, which must never
 * happen), 5 no answer within 120 s, 6 a --then without a Handle to use, 64 usage.
 * Built by the Test task's Windows leg with MinGW-w64 (build.ps1 Build-WindowsTestProgram). */
#include <windows.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { const uint8_t *data; uint64_t len; } SliceU8;
typedef struct { uint8_t *data; uint64_t len; } SliceMutU8;
enum { OK = 0, PENDING = 1, BUFFER_TOO_SMALL = 2 };

typedef uint32_t (*abi_version_fn)(void);
typedef int32_t (*start_fn)(SliceU8 request, SliceU8 secret, uint64_t *out_operation);
typedef int32_t (*poll_fn)(uint64_t operation, uint32_t timeout_ms, SliceMutU8 buffer, uint64_t *out_len);
typedef int32_t (*release_fn)(uint64_t operation);

static uint8_t *read_file(const wchar_t *path, uint64_t *len) {
    FILE *f = _wfopen(path, L"rb");
    if (!f) return NULL;
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, n;
    uint8_t chunk[4096];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (size + n > cap) {
            cap = (size + n) * 2;
            uint8_t *grown = realloc(data, cap);
            if (!grown) { free(data); fclose(f); return NULL; }
            data = grown;
        }
        memcpy(data + size, chunk, n);
        size += n;
    }
    fclose(f);
    if (!data) data = malloc(1);
    *len = size;
    return data;
}

/* `request` with every "@HANDLE@" (quotes included) replaced by `handle`; a new buffer. */
static uint8_t *with_handle(const uint8_t *request, uint64_t len, unsigned long long handle, uint64_t *out_len) {
    static const char placeholder[] = "\"@HANDLE@\"";
    const size_t plen = sizeof placeholder - 1;
    char number[32];
    int nlen = snprintf(number, sizeof number, "%llu", handle);
    uint8_t *out = malloc(len * 3 + 32); /* a 10-byte placeholder becomes at most 20 digits */
    if (!out) return NULL;
    uint64_t i = 0, o = 0;
    while (i < len) {
        if (i + plen <= len && memcmp(request + i, placeholder, plen) == 0) {
            memcpy(out + o, number, (size_t)nlen);
            o += (uint64_t)nlen;
            i += plen;
        } else {
            out[o++] = request[i++];
        }
    }
    *out_len = o;
    return out;
}

typedef struct {
    start_fn start;
    poll_fn poll;
    release_fn release;
    uint8_t *buffer;
    uint64_t cap;
} Engine;

/* Runs one operation to its final chunk, printing every chunk. Returns 0 (done; the last chunk
 * is in engine->buffer, NUL-terminated) or the exit code of the failure. */
static int run_operation(Engine *engine, const uint8_t *request, uint64_t request_len, const uint8_t *secret, uint64_t secret_len) {
    SliceU8 request_slice = { request, request_len };
    SliceU8 secret_slice = { secret, secret ? secret_len : 0 };
    uint64_t operation = 0;
    int32_t status = engine->start(request_slice, secret_slice, &operation);
    if (status != OK) { printf("START_STATUS=%d\n", status); return 4; }
    ULONGLONG deadline = GetTickCount64() + 120000;
    int code = 5;
    while (engine->buffer && GetTickCount64() < deadline) {
        uint64_t len = 0;
        SliceMutU8 out = { engine->buffer, engine->cap - 1 };
        status = engine->poll(operation, 200, out, &len);
        if (status == PENDING) continue;
        if (status == BUFFER_TOO_SMALL) {
            uint8_t *grown = realloc(engine->buffer, len + 1);
            if (!grown) break;
            engine->buffer = grown;
            engine->cap = len + 1;
            continue;
        }
        if (status != OK) { printf("POLL_STATUS=%d\n", status); code = 4; break; }
        engine->buffer[len] = 0;
        /* The engine writes compact JSON: the final chunk carries "done":true. */
        if (strstr((const char *)engine->buffer, "\"done\":true")) {
            printf("RESULT=%s\n", (const char *)engine->buffer);
            code = 0;
            break;
        }
        printf("CHUNK=%s\n", (const char *)engine->buffer);
    }
    if (code == 5) printf("TIMEOUT\n");
    engine->release(operation);
    fflush(stdout);
    return code;
}

int wmain(int argc, wchar_t **argv) {
    if (argc < 4) {
        fwprintf(stderr, L"usage: engine_abi.exe <engine.dll> <abi version> <request.json> [<secret.json>] [--then <request.json>]...\n");
        return 64;
    }
    HMODULE engine = LoadLibraryW(argv[1]);
    if (!engine) { printf("LOAD_ERROR=%lu\n", (unsigned long)GetLastError()); return 2; }
/* FARPROC to a typed pointer, through the generic function pointer type. */
#define EXPORT(type, name) ((type)(void (*)(void))GetProcAddress(engine, name))
    abi_version_fn abi_version = EXPORT(abi_version_fn, "mi_abi_version");
    Engine e = { EXPORT(start_fn, "mi_operation_start"), EXPORT(poll_fn, "mi_operation_poll"), EXPORT(release_fn, "mi_operation_release"), NULL, 1 << 20 };
    if (!abi_version || !e.start || !e.poll || !e.release) { printf("MISSING_EXPORT\n"); return 2; }
    uint32_t abi = abi_version();
    printf("ABI=%u\n", abi);
    if (abi != (uint32_t)wcstoul(argv[2], NULL, 10)) return 3;

    int next = 4;
    uint64_t request_len = 0, secret_len = 0;
    uint8_t *request = read_file(argv[3], &request_len);
    uint8_t *secret = NULL;
    if (argc > 4 && wcscmp(argv[4], L"--then") != 0) {
        secret = read_file(argv[4], &secret_len);
        if (!secret) { printf("UNREADABLE_INPUT\n"); return 64; }
        next = 5;
    }
    if (!request) { printf("UNREADABLE_INPUT\n"); return 64; }
    e.buffer = malloc(e.cap);
    int code = run_operation(&e, request, request_len, secret, secret_len);
    free(request);
    free(secret);
    while (code == 0 && next < argc) {
        if (wcscmp(argv[next], L"--then") != 0 || next + 1 >= argc) {
            fwprintf(stderr, L"expected --then <request.json>\n");
            code = 64;
            break;
        }
        /* The previous result's context handle (the chunk is compact JSON). */
        const char *found = strstr((const char *)e.buffer, "\"Handle\":");
        if (!found) { printf("NO_HANDLE\n"); code = 6; break; }
        unsigned long long handle = strtoull(found + 9, NULL, 10);
        uint8_t *raw = read_file(argv[next + 1], &request_len);
        if (!raw) { printf("UNREADABLE_INPUT\n"); code = 64; break; }
        request = with_handle(raw, request_len, handle, &request_len);
        free(raw);
        if (!request) { code = 64; break; }
        code = run_operation(&e, request, request_len, NULL, 0);
        free(request);
        next += 2;
    }
    free(e.buffer);
    fflush(stdout);
    return code;
}
