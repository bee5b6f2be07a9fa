/* TEST-ONLY, NEVER PACKAGED. Loads the packaged engine as Windows loads it (LoadLibraryW of
 * runtimes\win-x64\native\managedidentity_engine.dll by full path) and drives one operation
 * through the C ABI the interop assembly uses (rust/ffi/src/lib.rs; the C# view is
 * powershell/ManagedIdentity/interop/NativeMethods.g.cs):
 *
 *   engine_abi.exe <engine.dll> <expected ABI version> <request.json> [<secret.json>]
 *
 * prints "ABI=<n>" and then "RESULT=<the final chunk>" (one line of JSON: {"done":true,
 * "result"|"error":...}). Exit codes: 0 done (the chunk says result or error), 2 the DLL did not
 * load or lacks an export, 3 ABI mismatch, 4 an unexpected status (e.g. Panic = 6: a panic
 * reached the boundary, which must never happen), 5 no answer within 60 s, 64 usage.
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

int wmain(int argc, wchar_t **argv) {
    if (argc < 4) {
        fwprintf(stderr, L"usage: engine_abi.exe <engine.dll> <abi version> <request.json> [<secret.json>]\n");
        return 64;
    }
    HMODULE engine = LoadLibraryW(argv[1]);
    if (!engine) { printf("LOAD_ERROR=%lu\n", (unsigned long)GetLastError()); return 2; }
/* FARPROC to a typed pointer, through the generic function pointer type. */
#define EXPORT(type, name) ((type)(void (*)(void))GetProcAddress(engine, name))
    abi_version_fn abi_version = EXPORT(abi_version_fn, "mi_abi_version");
    start_fn start = EXPORT(start_fn, "mi_operation_start");
    poll_fn poll = EXPORT(poll_fn, "mi_operation_poll");
    release_fn release = EXPORT(release_fn, "mi_operation_release");
    if (!abi_version || !start || !poll || !release) { printf("MISSING_EXPORT\n"); return 2; }
    uint32_t abi = abi_version();
    printf("ABI=%u\n", abi);
    if (abi != (uint32_t)wcstoul(argv[2], NULL, 10)) return 3;

    uint64_t request_len = 0, secret_len = 0;
    uint8_t *request = read_file(argv[3], &request_len);
    uint8_t *secret = argc > 4 ? read_file(argv[4], &secret_len) : NULL;
    if (!request || (argc > 4 && !secret)) { printf("UNREADABLE_INPUT\n"); return 64; }
    SliceU8 request_slice = { request, request_len };
    SliceU8 secret_slice = { secret, secret ? secret_len : 0 };
    uint64_t operation = 0;
    int32_t status = start(request_slice, secret_slice, &operation);
    if (status != OK) { printf("START_STATUS=%d\n", status); return 4; }

    uint64_t cap = 1 << 20;
    uint8_t *buffer = malloc(cap);
    ULONGLONG deadline = GetTickCount64() + 60000;
    int code = 5;
    while (buffer && GetTickCount64() < deadline) {
        uint64_t len = 0;
        SliceMutU8 out = { buffer, cap - 1 };
        status = poll(operation, 200, out, &len);
        if (status == PENDING) continue;
        if (status == BUFFER_TOO_SMALL) {
            uint8_t *grown = realloc(buffer, len + 1);
            if (!grown) break;
            buffer = grown;
            cap = len + 1;
            continue;
        }
        if (status != OK) { printf("POLL_STATUS=%d\n", status); code = 4; break; }
        buffer[len] = 0;
        /* The engine writes compact JSON: the final chunk carries "done":true. */
        if (strstr((const char *)buffer, "\"done\":true")) {
            printf("RESULT=%s\n", (const char *)buffer);
            code = 0;
            break;
        }
    }
    if (code == 5) printf("TIMEOUT\n");
    release(operation);
    free(buffer);
    free(request);
    free(secret);
    fflush(stdout);
    return code;
}
