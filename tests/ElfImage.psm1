# Reads what a Linux shared object exports and needs straight from its ELF headers, so the
# linux-x64 and linux-arm64 engines can be checked without readelf or a machine of that
# architecture (System V ABI, ELF-64 object file format: ELF header -> section header table ->
# .dynsym with its string table, .dynamic with DT_NEEDED, .gnu.version_r with the symbol versions
# each needed library must provide). 64-bit little-endian objects only, which is every engine.

function Read-ElfImage {
    param([Parameter(Mandatory)] [string] $Path)
    $bytes = [IO.File]::ReadAllBytes($Path)
    if ($bytes.Length -lt 64 -or $bytes[0] -ne 0x7F -or $bytes[1] -ne 0x45 -or $bytes[2] -ne 0x4C -or $bytes[3] -ne 0x46) {
        throw "$Path is not an ELF file (no 0x7F 'ELF' magic)."
    }
    if ($bytes[4] -ne 2) { throw "$Path is not a 64-bit ELF file (EI_CLASS $($bytes[4]))." }
    if ($bytes[5] -ne 1) { throw "$Path is not a little-endian ELF file (EI_DATA $($bytes[5]))." }
    $type = [BitConverter]::ToUInt16($bytes, 16)
    $machine = [BitConverter]::ToUInt16($bytes, 18)
    $sectionTable = [BitConverter]::ToUInt64($bytes, 40)
    $sectionSize = [BitConverter]::ToUInt16($bytes, 58)
    $sectionCount = [BitConverter]::ToUInt16($bytes, 60)
    if ($sectionTable -eq 0 -or $sectionCount -eq 0) { throw "$Path has no section header table." }

    # Elf64_Shdr: sh_name @0, sh_type @4, sh_offset @24, sh_size @32, sh_link @40, sh_info @44, sh_entsize @56.
    $sections = for ($i = 0; $i -lt $sectionCount; $i++) {
        $s = [int]$sectionTable + $sectionSize * $i
        [pscustomobject]@{
            Type    = [BitConverter]::ToUInt32($bytes, $s + 4)
            Offset  = [int][BitConverter]::ToUInt64($bytes, $s + 24)
            Size    = [int][BitConverter]::ToUInt64($bytes, $s + 32)
            Link    = [BitConverter]::ToUInt32($bytes, $s + 40)
            Info    = [BitConverter]::ToUInt32($bytes, $s + 44)
            EntSize = [int][BitConverter]::ToUInt64($bytes, $s + 56)
        }
    }
    $readString = {
        param($Table, [uint64] $Index)
        $start = $Table.Offset + [int]$Index
        if ($start -ge $Table.Offset + $Table.Size) { throw "A string index lies outside its string table in $Path." }
        $end = $start
        while ($end -lt $bytes.Length -and $bytes[$end] -ne 0) { $end++ }
        [Text.Encoding]::ASCII.GetString($bytes, $start, $end - $start)
    }
    $ofType = { param([uint32] $Kind) @($sections | Where-Object Type -EQ $Kind) }

    # SHT_DYNSYM (11), Elf64_Sym (24 bytes): st_name @0, st_info @4 (binding << 4 | type),
    # st_other @5 (visibility in the low 2 bits), st_shndx @6 (0 = undefined, an import).
    # An export is a defined GLOBAL (1) or WEAK (2) symbol of DEFAULT (0) or PROTECTED (3) visibility.
    $exports = [Collections.Generic.List[string]]::new()
    $undefined = [Collections.Generic.List[string]]::new()
    foreach ($table in & $ofType 11) {
        $strings = $sections[$table.Link]
        $size = if ($table.EntSize -gt 0) { $table.EntSize } else { 24 }
        for ($at = $table.Offset + $size; $at -lt $table.Offset + $table.Size; $at += $size) {
            $name = & $readString $strings ([BitConverter]::ToUInt32($bytes, $at))
            if (-not $name) { continue }
            $binding = $bytes[$at + 4] -shr 4
            $visibility = $bytes[$at + 5] -band 3
            $defined = [BitConverter]::ToUInt16($bytes, $at + 6) -ne 0
            if (-not $defined) { $undefined.Add($name) }
            elseif ($binding -in 1, 2 -and $visibility -in 0, 3) { $exports.Add($name) }
        }
    }

    # SHT_DYNAMIC (6), Elf64_Dyn (16 bytes): d_tag @0, d_val @8; DT_NEEDED = 1, DT_SONAME = 14,
    # names are offsets into the section's linked string table (.dynstr).
    $needed = [Collections.Generic.List[string]]::new()
    $soname = $null
    foreach ($table in & $ofType 6) {
        $strings = $sections[$table.Link]
        for ($at = $table.Offset; $at + 16 -le $table.Offset + $table.Size; $at += 16) {
            $tag = [BitConverter]::ToInt64($bytes, $at)
            if ($tag -eq 0) { break }
            if ($tag -eq 1) { $needed.Add((& $readString $strings ([BitConverter]::ToUInt64($bytes, $at + 8)))) }
            if ($tag -eq 14) { $soname = & $readString $strings ([BitConverter]::ToUInt64($bytes, $at + 8)) }
        }
    }

    # SHT_GNU_verneed (0x6ffffffe), sh_info entries: Elf64_Verneed (vn_cnt @2, vn_file @4,
    # vn_aux @8, vn_next @12) each followed by vn_cnt Elf64_Vernaux (vna_name @8, vna_next @12).
    $versions = [Collections.Generic.List[object]]::new()
    foreach ($table in & $ofType 0x6ffffffe) {
        $strings = $sections[$table.Link]
        $at = $table.Offset
        for ($i = 0; $i -lt $table.Info; $i++) {
            $file = & $readString $strings ([BitConverter]::ToUInt32($bytes, $at + 4))
            $aux = $at + [int][BitConverter]::ToUInt32($bytes, $at + 8)
            for ($j = 0; $j -lt [BitConverter]::ToUInt16($bytes, $at + 2); $j++) {
                $versions.Add([pscustomobject]@{ Library = $file; Version = (& $readString $strings ([BitConverter]::ToUInt32($bytes, $aux + 8))) })
                $aux += [int][BitConverter]::ToUInt32($bytes, $aux + 12)
            }
            $next = [int][BitConverter]::ToUInt32($bytes, $at + 12)
            if ($next -eq 0) { break }
            $at += $next
        }
    }

    [pscustomobject]@{
        Path             = $Path
        Machine          = switch ($machine) { 62 { 'X86_64' } 183 { 'AArch64' } 3 { 'I386' } 40 { 'ARM' } default { '0x{0:X}' -f $machine } }
        IsSharedObject   = $type -eq 3
        SoName           = $soname
        Exports          = @($exports | Sort-Object -Unique)
        Imports          = @($undefined | Sort-Object -Unique)
        Needed           = @($needed)
        RequiredVersions = @($versions)
    }
}

# Libraries every glibc-based Linux has (the C library, its math library, the dynamic loader and
# the GCC unwinder Rust's panic handling uses; libpthread/libdl/librt are stubs in glibc 2.34+ but
# present on every glibc system). Anything else (libssl.so.3, libcrypto.so.3, libstdc++.so.6, ...)
# would tie the engine to a distribution's packages.
$script:LinuxSystemLibraries = @('libc.so.6', 'libm.so.6', 'libgcc_s.so.1', 'libpthread.so.0', 'libdl.so.2', 'librt.so.1')

function Test-LinuxSystemLibrary {
    param([Parameter(Mandatory)] [string] $Name)
    ($script:LinuxSystemLibraries -ccontains $Name) -or $Name -cmatch '^ld-linux-[a-z0-9_-]+\.so\.\d+$'
}

Export-ModuleMember -Function Read-ElfImage, Test-LinuxSystemLibrary
