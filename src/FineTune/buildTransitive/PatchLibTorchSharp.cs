// MSBuild inline task body (RoslynCodeTaskFactory). Marks chosen version-need entries of an ELF64
// shared object as weak (VER_FLG_WEAK), so the loader does not refuse the library when the system
// lacks that version. Used on the copy of libLibTorchSharp.so in the build output only.
var path = File;
var names = new System.Collections.Generic.HashSet<string>(Versions.Split(new[] { ';' }, System.StringSplitOptions.RemoveEmptyEntries));
byte[] b = System.IO.File.ReadAllBytes(path);
if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
{
    Log.LogMessage(MessageImportance.Low, "Not a little-endian ELF64 file, left as is: " + path);
    return true;
}
ulong shoff = System.BitConverter.ToUInt64(b, 0x28);
int shentsize = System.BitConverter.ToUInt16(b, 0x3A);
int shnum = System.BitConverter.ToUInt16(b, 0x3C);
int changed = 0;
for (int i = 0; i < shnum; i++)
{
    long sh = (long)shoff + (long)i * shentsize;
    uint type = System.BitConverter.ToUInt32(b, (int)sh + 4);
    if (type != 0x6ffffffe) continue; // SHT_GNU_verneed
    long off = (long)System.BitConverter.ToUInt64(b, (int)sh + 0x18);
    uint link = System.BitConverter.ToUInt32(b, (int)sh + 0x28);
    long strSh = (long)shoff + (long)link * shentsize;
    long strOff = (long)System.BitConverter.ToUInt64(b, (int)strSh + 0x18);
    long vn = off;
    while (true)
    {
        int cnt = System.BitConverter.ToUInt16(b, (int)vn + 2);
        uint aux = System.BitConverter.ToUInt32(b, (int)vn + 8);
        uint next = System.BitConverter.ToUInt32(b, (int)vn + 12);
        long va = vn + aux;
        for (int k = 0; k < cnt; k++)
        {
            uint nameOff = System.BitConverter.ToUInt32(b, (int)va + 8);
            int start = (int)(strOff + nameOff), end = start;
            while (b[end] != 0) end++;
            string name = System.Text.Encoding.ASCII.GetString(b, start, end - start);
            ushort flags = System.BitConverter.ToUInt16(b, (int)va + 4);
            if (names.Contains(name) && (flags & 0x2) == 0)
            {
                flags |= 0x2; // VER_FLG_WEAK
                b[va + 4] = (byte)(flags & 0xff);
                b[va + 5] = (byte)(flags >> 8);
                changed++;
            }
            uint anext = System.BitConverter.ToUInt32(b, (int)va + 12);
            if (anext == 0) break;
            va += anext;
        }
        if (next == 0) break;
        vn += next;
    }
}
if (changed > 0)
{
    // Write a new file and rename it over the old one, so a hard link into the package cache is never modified.
    string tmp = path + ".patching";
    System.IO.File.WriteAllBytes(tmp, b);
    System.IO.File.Delete(path);
    System.IO.File.Move(tmp, path);
    Log.LogMessage(MessageImportance.Normal, "Marked " + changed + " version need(s) weak in " + path);
}
