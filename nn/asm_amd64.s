//go:build amd64 && !noasm

#include "textflag.h"

// AVX2 + FMA kernels for GELU (activation.go), eight float32 lanes per
// instruction. They compute what geluForward and geluBackwardWithOutput compute,
// with the same exponential (the range reduction and polynomial of expNarrow), but
// with fused multiply-adds, so the last bits may differ from the Go loops. n must be
// a positive multiple of 8; the Go wrappers handle the rest.

// Constants, one float32 (or int32) each, broadcast into registers.
DATA geluConst<>+0x00(SB)/4, $0xbfcc422a // -2·√(2/π)
DATA geluConst<>+0x04(SB)/4, $0xbd922279 // -2·√(2/π)·0.044715
DATA geluConst<>+0x08(SB)/4, $0xc2ae0000 // -87, lower clamp of the exponent
DATA geluConst<>+0x0c(SB)/4, $0x42b00000 // 88, upper clamp
DATA geluConst<>+0x10(SB)/4, $0x3fb8aa3b // log2(e)
DATA geluConst<>+0x14(SB)/4, $0x3f318000 // ln2, high part
DATA geluConst<>+0x18(SB)/4, $0xb95e8083 // ln2, low part
DATA geluConst<>+0x1c(SB)/4, $0x39506967 // p0 of e^r
DATA geluConst<>+0x20(SB)/4, $0x3ab743ce // p1
DATA geluConst<>+0x24(SB)/4, $0x3c088908 // p2
DATA geluConst<>+0x28(SB)/4, $0x3d2aa9c1 // p3
DATA geluConst<>+0x2c(SB)/4, $0x3e2aaaaa // p4
DATA geluConst<>+0x30(SB)/4, $0x3f000000 // p5 = 0.5
DATA geluConst<>+0x34(SB)/4, $0x3f800000 // 1
DATA geluConst<>+0x38(SB)/4, $0x0000007f // 127, the exponent bias (int32)
DATA geluConst<>+0x3c(SB)/4, $0x0da24260 // 1e-30
DATA geluConst<>+0x40(SB)/4, $0x7fffffff // mask of everything but the sign
DATA geluConst<>+0x44(SB)/4, $0x3fcc422a // 2·√(2/π)
DATA geluConst<>+0x48(SB)/4, $0x3e5b33b6 // 2·√(2/π)·3·0.044715
GLOBL geluConst<>(SB), RODATA|NOPTR, $0x4c

// func geluForwardAVX2(x, y *float32, n int)
//
// y = x / (1 + e^(−2u)), u = √(2/π)·(x + 0.044715·x³).
TEXT ·geluForwardAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS geluConst<>+0x00(SB), Y8  // -2c
	VBROADCASTSS geluConst<>+0x04(SB), Y9  // -2c·0.044715
	VBROADCASTSS geluConst<>+0x08(SB), Y10 // -87
	VBROADCASTSS geluConst<>+0x0c(SB), Y11 // 88
	VBROADCASTSS geluConst<>+0x10(SB), Y12 // log2 e
	VBROADCASTSS geluConst<>+0x14(SB), Y13 // ln2 hi
	VBROADCASTSS geluConst<>+0x18(SB), Y14 // ln2 lo
	VBROADCASTSS geluConst<>+0x34(SB), Y15 // 1

forward:
	VMOVUPS (SI), Y0          // x
	VMULPS  Y0, Y0, Y1        // x²
	VMOVAPS Y9, Y2
	VFMADD213PS Y8, Y1, Y2    // -2c·(1 + 0.044715·x²)
	VMULPS  Y0, Y2, Y2        // a = -2u
	VMAXPS  Y2, Y10, Y2       // a = max(-87, a)
	VMINPS  Y2, Y11, Y2       // a = min(88, a)
	VMULPS  Y12, Y2, Y3
	VROUNDPS $8, Y3, Y3       // k = round(a·log2 e), to nearest
	VMOVAPS Y2, Y4
	VFNMADD231PS Y13, Y3, Y4  // r = a − k·ln2hi
	VFNMADD231PS Y14, Y3, Y4  //     − k·ln2lo
	VBROADCASTSS geluConst<>+0x1c(SB), Y5
	VBROADCASTSS geluConst<>+0x20(SB), Y6
	VFMADD213PS Y6, Y4, Y5    // p = p0·r + p1
	VBROADCASTSS geluConst<>+0x24(SB), Y6
	VFMADD213PS Y6, Y4, Y5    // p = p·r + p2
	VBROADCASTSS geluConst<>+0x28(SB), Y6
	VFMADD213PS Y6, Y4, Y5    // p = p·r + p3
	VBROADCASTSS geluConst<>+0x2c(SB), Y6
	VFMADD213PS Y6, Y4, Y5    // p = p·r + p4
	VBROADCASTSS geluConst<>+0x30(SB), Y6
	VFMADD213PS Y6, Y4, Y5    // p = p·r + p5
	VMULPS  Y4, Y4, Y6        // r²
	VFMADD213PS Y4, Y6, Y5    // p·r² + r
	VADDPS  Y15, Y5, Y5       // e^r = p·r² + r + 1
	VCVTPS2DQ Y3, Y7          // k as int32
	VPBROADCASTD geluConst<>+0x38(SB), Y6
	VPADDD  Y6, Y7, Y7
	VPSLLD  $23, Y7, Y7       // 2^k as float32 bits
	VMULPS  Y7, Y5, Y5        // e^a
	VADDPS  Y15, Y5, Y5       // 1 + e^a
	VDIVPS  Y5, Y0, Y0        // x / (1 + e^a)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  forward
	VZEROUPPER
	RET

// func geluBackwardOutAVX2(x, y, dy, dx *float32, n int)
//
// dx += dy·(s + x·s·(1−s)·2c·(1 + 3·0.044715·x²)), s = y/x (½ where |x| ≤ 1e-30).
TEXT ·geluBackwardOutAVX2(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ dy+16(FP), DX
	MOVQ dx+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS geluConst<>+0x30(SB), Y8  // ½
	VBROADCASTSS geluConst<>+0x3c(SB), Y9  // 1e-30
	VBROADCASTSS geluConst<>+0x40(SB), Y10 // abs mask
	VBROADCASTSS geluConst<>+0x44(SB), Y11 // 2c
	VBROADCASTSS geluConst<>+0x48(SB), Y12 // 2c·3·0.044715
	VBROADCASTSS geluConst<>+0x34(SB), Y15 // 1

backward:
	VMOVUPS (SI), Y0          // x
	VMOVUPS (DI), Y1          // y
	VDIVPS  Y0, Y1, Y2        // s = y/x
	VANDPS  Y10, Y0, Y3       // |x|
	VCMPPS  $0x1e, Y9, Y3, Y3 // |x| > 1e-30 (ordered, quiet)
	VBLENDVPS Y3, Y2, Y8, Y2  // s, or ½ for tiny |x|
	VMULPS  Y0, Y0, Y4        // x²
	VMOVAPS Y12, Y5
	VFMADD213PS Y11, Y4, Y5   // du = 2c + 2c·3·0.044715·x²
	VSUBPS  Y2, Y15, Y6       // 1 − s
	VMULPS  Y2, Y6, Y6        // s(1−s)
	VMULPS  Y5, Y6, Y6        // s(1−s)·du
	VFMADD213PS Y2, Y0, Y6    // gelu'(x) = x·s(1−s)·du + s
	VMOVUPS (DX), Y7          // dy
	VMOVUPS (R8), Y1          // dx
	VFMADD231PS Y7, Y6, Y1    // dx += gelu'(x)·dy
	VMOVUPS Y1, (R8)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R8
	SUBQ $8, CX
	JNZ  backward
	VZEROUPPER
	RET
