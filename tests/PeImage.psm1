# Reads what a Windows DLL exports and imports straight from its PE headers, so the win-x64
# engine can be checked on a machine without Windows or dumpbin (PE/COFF specification:
# DOS header -> "PE\0\0" -> COFF header -> optional header data directories -> section table).

function Read-PeImage {
    param([Parameter(Mandatory)] [string] $Path)
    $bytes = [IO.File]::ReadAllBytes($Path)
    if ($bytes.Length -lt 0x40 -or [BitConverter]::ToUInt16($bytes, 0) -ne 0x5A4D) { throw "$Path is not a PE file (no MZ header)." }
    $pe = [BitConverter]::ToInt32($bytes, 0x3C)
    if ([BitConverter]::ToUInt32($bytes, $pe) -ne 0x00004550) { throw "$Path is not a PE file (no PE signature)." }
    $coff = $pe + 4
    $machine = [BitConverter]::ToUInt16($bytes, $coff)
    $sectionCount = [BitConverter]::ToUInt16($bytes, $coff + 2)
    $optionalSize = [BitConverter]::ToUInt16($bytes, $coff + 16)
    $characteristics = [BitConverter]::ToUInt16($bytes, $coff + 18)
    $optional = $coff + 20
    $magic = [BitConverter]::ToUInt16($bytes, $optional)
    $directories = switch ($magic) { 0x20B { $optional + 112 } 0x10B { $optional + 96 } default { throw "$Path has an unknown optional-header magic 0x$('{0:X}' -f $magic)." } }
    $directoryCount = [BitConverter]::ToUInt32($bytes, $directories - 4)

    $sections = for ($i = 0; $i -lt $sectionCount; $i++) {
        $s = $optional + $optionalSize + 40 * $i
        [pscustomobject]@{
            Name           = [Text.Encoding]::ASCII.GetString($bytes, $s, 8).TrimEnd([char]0)
            VirtualSize    = [BitConverter]::ToUInt32($bytes, $s + 8)
            VirtualAddress = [BitConverter]::ToUInt32($bytes, $s + 12)
            RawSize        = [BitConverter]::ToUInt32($bytes, $s + 16)
            RawPointer     = [BitConverter]::ToUInt32($bytes, $s + 20)
        }
    }
    $toOffset = {
        param([uint32] $Rva)
        foreach ($section in $sections) {
            $span = [math]::Max($section.VirtualSize, $section.RawSize)
            if ($Rva -ge $section.VirtualAddress -and $Rva -lt $section.VirtualAddress + $span) {
                return [int]($Rva - $section.VirtualAddress + $section.RawPointer)
            }
        }
        throw "RVA 0x$('{0:X}' -f $Rva) lies in no section of $Path."
    }
    $readString = {
        param([uint32] $Rva)
        $start = & $toOffset $Rva
        $end = $start
        while ($end -lt $bytes.Length -and $bytes[$end] -ne 0) { $end++ }
        [Text.Encoding]::ASCII.GetString($bytes, $start, $end - $start)
    }
    $directory = {
        param([int] $Index)
        if ($Index -ge $directoryCount) { return $null }
        $rva = [BitConverter]::ToUInt32($bytes, $directories + 8 * $Index)
        $size = [BitConverter]::ToUInt32($bytes, $directories + 8 * $Index + 4)
        if ($rva -eq 0 -or $size -eq 0) { return $null }
        [pscustomobject]@{ Rva = $rva; Size = $size }
    }

    $exports = [Collections.Generic.List[string]]::new()
    $exportDirectory = & $directory 0
    if ($exportDirectory) {
        $e = & $toOffset $exportDirectory.Rva
        $nameCount = [BitConverter]::ToUInt32($bytes, $e + 24)
        $names = & $toOffset ([BitConverter]::ToUInt32($bytes, $e + 32))
        for ($i = 0; $i -lt $nameCount; $i++) { $exports.Add((& $readString ([BitConverter]::ToUInt32($bytes, $names + 4 * $i)))) }
    }

    # Import directory (index 1): 20-byte descriptors, DLL name RVA at +12, ended by a zero one.
    # Delay-load directory (index 13): 32-byte descriptors, DLL name RVA at +4.
    $imports = [Collections.Generic.List[string]]::new()
    foreach ($kind in @(@{ Index = 1; Size = 20; NameAt = 12 }, @{ Index = 13; Size = 32; NameAt = 4 })) {
        $importDirectory = & $directory $kind.Index
        if (-not $importDirectory) { continue }
        $d = & $toOffset $importDirectory.Rva
        while ($true) {
            $nameRva = [BitConverter]::ToUInt32($bytes, $d + $kind.NameAt)
            if ($nameRva -eq 0) { break }
            $imports.Add((& $readString $nameRva))
            $d += $kind.Size
        }
    }

    [pscustomobject]@{
        Path     = $Path
        Machine  = switch ($machine) { 0x8664 { 'AMD64' } 0xAA64 { 'ARM64' } 0x14C { 'I386' } default { '0x{0:X}' -f $machine } }
        IsDll    = [bool]($characteristics -band 0x2000)
        Is64Bit  = $magic -eq 0x20B
        Sections = @($sections.Name)
        Exports  = @($exports)
        Imports  = @($imports | Sort-Object -Unique)
    }
}

# DLLs every Windows Server 2016+ (and Windows 10+) has in System32 without any redistributable:
# the Win32 core, the in-box CRTs (msvcrt, the Universal CRT since Windows 10) and the API sets.
# Anything else (libgcc_s_seh-1.dll, libwinpthread-1.dll, vcruntime140.dll, ...) would fail to
# load in an Azure Automation sandbox.
$script:WindowsSystemDlls = @(
    'kernel32.dll', 'kernelbase.dll', 'ntdll.dll', 'advapi32.dll', 'ws2_32.dll', 'mswsock.dll', 'bcrypt.dll',
    'bcryptprimitives.dll', 'crypt32.dll', 'ncrypt.dll', 'secur32.dll', 'sspicli.dll', 'userenv.dll', 'user32.dll',
    'shell32.dll', 'ole32.dll', 'oleaut32.dll', 'iphlpapi.dll', 'dnsapi.dll', 'msvcrt.dll', 'ucrtbase.dll',
    'synchronization.dll', 'rpcrt4.dll', 'winhttp.dll', 'shlwapi.dll', 'psapi.dll', 'dbghelp.dll'
)

function Test-WindowsSystemDll {
    param([Parameter(Mandatory)] [string] $Name)
    $lower = $Name.ToLowerInvariant()
    ($script:WindowsSystemDlls -contains $lower) -or $lower -match '^api-ms-win-(core|crt|security|eventing)-[a-z0-9-]+\.dll$'
}

Export-ModuleMember -Function Read-PeImage, Test-WindowsSystemDll
