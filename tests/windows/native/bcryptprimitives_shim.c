/* TEST-ONLY, NEVER PACKAGED. A stand-in for Windows 10's bcryptprimitives.dll!ProcessPrng, which
 * Rust's standard library imports and Wine 8 lacks. The Windows test leg builds it with MinGW-w64
 * (x86_64-w64-mingw32-gcc -shared -o bcryptprimitives.dll bcryptprimitives_shim.c -lbcrypt) and
 * puts it beside the Windows test programs it runs under Wine; real Windows 10 / Server 2016 and
 * later have the function, and the module never ships this file (tests/Package.Tests.ps1 checks
 * the engine imports only system DLLs). */
#include <windows.h>

typedef LONG NTSTATUS_T;
__declspec(dllimport) NTSTATUS_T WINAPI BCryptGenRandom(void *alg, PUCHAR buf, ULONG len, ULONG flags);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, 2 /* BCRYPT_USE_SYSTEM_PREFERRED_RNG */) != 0) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
