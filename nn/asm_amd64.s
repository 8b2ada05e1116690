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

// EXPNARROW8 leaves e^a in Y5 for the eight lanes of a in Y2 (which it clamps to
// [−87, 88], as expNarrow): a = k·ln2 + r with k = round(a·log2 e), e^r from Cephes'
// degree-6 polynomial, 2^k from k's bits. It expects −87, 88, log2 e, ln2 hi,
// ln2 lo and 1 in Y10…Y15 and uses Y3, Y4, Y6, Y7.
#define EXPNARROW8 \
	VMAXPS  Y2, Y10, Y2; \
	VMINPS  Y2, Y11, Y2; \
	VMULPS  Y12, Y2, Y3; \
	VROUNDPS $8, Y3, Y3; \
	VMOVAPS Y2, Y4; \
	VFNMADD231PS Y13, Y3, Y4; \
	VFNMADD231PS Y14, Y3, Y4; \
	VBROADCASTSS geluConst<>+0x1c(SB), Y5; \
	VBROADCASTSS geluConst<>+0x20(SB), Y6; \
	VFMADD213PS Y6, Y4, Y5; \
	VBROADCASTSS geluConst<>+0x24(SB), Y6; \
	VFMADD213PS Y6, Y4, Y5; \
	VBROADCASTSS geluConst<>+0x28(SB), Y6; \
	VFMADD213PS Y6, Y4, Y5; \
	VBROADCASTSS geluConst<>+0x2c(SB), Y6; \
	VFMADD213PS Y6, Y4, Y5; \
	VBROADCASTSS geluConst<>+0x30(SB), Y6; \
	VFMADD213PS Y6, Y4, Y5; \
	VMULPS  Y4, Y4, Y6; \
	VFMADD213PS Y4, Y6, Y5; \
	VADDPS  Y15, Y5, Y5; \
	VCVTPS2DQ Y3, Y7; \
	VPBROADCASTD geluConst<>+0x38(SB), Y6; \
	VPADDD  Y6, Y7, Y7; \
	VPSLLD  $23, Y7, Y7; \
	VMULPS  Y7, Y5, Y5

DATA one64<>+0(SB)/8, $1.0
GLOBL one64<>(SB), RODATA|NOPTR, $8

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
	EXPNARROW8
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

// func expShiftAVX2(x *float32, n int, m float32)
//
// x[j] = e^(x[j] − m), the exponential of expNarrow (arguments clamped to
// [−87, 88]); the softmax's numerators.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y9
	VBROADCASTSS geluConst<>+0x08(SB), Y10 // -87
	VBROADCASTSS geluConst<>+0x0c(SB), Y11 // 88
	VBROADCASTSS geluConst<>+0x10(SB), Y12 // log2 e
	VBROADCASTSS geluConst<>+0x14(SB), Y13 // ln2 hi
	VBROADCASTSS geluConst<>+0x18(SB), Y14 // ln2 lo
	VBROADCASTSS geluConst<>+0x34(SB), Y15 // 1

exp:
	VMOVUPS (SI), Y2
	VSUBPS  Y9, Y2, Y2        // a = x − m
	EXPNARROW8
	VMOVUPS Y5, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  exp
	VZEROUPPER
	RET

// hsum8 leaves the sum of the eight lanes of Y in the low lane of X (X is Y's low
// half; T is a scratch register).
#define HSUM8(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VADDPS  T, X, X; \
	VMOVHLPS X, T, T; \
	VADDPS  T, X, X; \
	VMOVSHDUP X, T; \
	VADDSS  T, X, X

// func layerNormRowAVX2(x, y, w, b *float32, c int, eps float32) (mean, rstd float32)
//
// One row of LayerNorm.Forward (layerNormRow): c must be a positive multiple of 8.
TEXT ·layerNormRowAVX2(SB), NOSPLIT, $0-56
	MOVQ x+0(FP), SI
	MOVQ c+32(FP), CX
	VXORPS Y0, Y0, Y0
	MOVQ SI, AX
	MOVQ CX, DX
sum:
	VADDPS (AX), Y0, Y0
	ADDQ $32, AX
	SUBQ $8, DX
	JNZ  sum
	HSUM8(Y0, X0, X1)
	VCVTSI2SSQ CX, X2, X2      // c
	VDIVSS  X2, X0, X0        // mean
	VBROADCASTSS X0, Y8
	VXORPS Y1, Y1, Y1
	MOVQ SI, AX
	MOVQ CX, DX
vari:
	VMOVUPS (AX), Y3
	VSUBPS  Y8, Y3, Y3
	VFMADD231PS Y3, Y3, Y1
	ADDQ $32, AX
	SUBQ $8, DX
	JNZ  vari
	HSUM8(Y1, X1, X3)
	VDIVSS  X2, X1, X1        // variance
	VADDSS  eps+40(FP), X1, X1
	VCVTSS2SD X1, X1, X1
	VSQRTSD X1, X1, X1
	VMOVSD  one64<>(SB), X4
	VDIVSD  X1, X4, X1
	VCVTSD2SS X1, X1, X1      // 1/σ, as float32(1/math.Sqrt(float64(v+eps)))
	VMOVSS X0, mean+48(FP)
	VMOVSS X1, rstd+52(FP)
	VBROADCASTSS X1, Y9
	MOVQ y+8(FP), DI
	MOVQ w+16(FP), R8
	MOVQ b+24(FP), R9
out:
	VMOVUPS (SI), Y3
	VSUBPS  Y8, Y3, Y3
	VMULPS  Y9, Y3, Y3        // norm
	VMOVUPS (R9), Y4
	VFMADD231PS (R8), Y3, Y4  // norm·w + b
	VMOVUPS Y4, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, CX
	JNZ  out
	VZEROUPPER
	RET

// func layerNormRowBackwardAVX2(x, dy, dx, w, dw, db *float32, c int, m, rs float32)
//
// One row of LayerNorm.Backward (layerNormRowBackward): c must be a positive
// multiple of 8; dx, dw and db may each be nil.
TEXT ·layerNormRowBackwardAVX2(SB), NOSPLIT, $0-64
	MOVQ x+0(FP), SI
	MOVQ dy+8(FP), DI
	MOVQ w+24(FP), R8
	MOVQ c+48(FP), CX
	VBROADCASTSS m+56(FP), Y8
	VBROADCASTSS rs+60(FP), Y9
	VXORPS Y0, Y0, Y0         // Σ w·dy
	VXORPS Y1, Y1, Y1         // Σ w·dy·norm
	XORQ AX, AX
	MOVQ CX, DX
	SHLQ $2, DX               // bytes
sums:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y8, Y3, Y3
	VMULPS  Y9, Y3, Y3        // norm
	VMOVUPS (DI)(AX*1), Y4
	VMULPS  (R8)(AX*1), Y4, Y5 // w·dy
	VADDPS  Y5, Y0, Y0
	VFMADD231PS Y5, Y3, Y1
	ADDQ $32, AX
	CMPQ AX, DX
	JNE  sums

	MOVQ dw+32(FP), R9
	TESTQ R9, R9
	JZ   nodw
	XORQ AX, AX
dwl:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y8, Y3, Y3
	VMULPS  Y9, Y3, Y3
	VMOVUPS (R9)(AX*1), Y4
	VFMADD231PS (DI)(AX*1), Y3, Y4 // dw += norm·dy
	VMOVUPS Y4, (R9)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JNE  dwl
nodw:
	MOVQ db+40(FP), R9
	TESTQ R9, R9
	JZ   nodb
	XORQ AX, AX
dbl:
	VMOVUPS (R9)(AX*1), Y4
	VADDPS  (DI)(AX*1), Y4, Y4 // db += dy
	VMOVUPS Y4, (R9)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JNE  dbl
nodb:
	MOVQ dx+16(FP), R9
	TESTQ R9, R9
	JZ   done
	HSUM8(Y0, X0, X6)
	HSUM8(Y1, X1, X6)
	VCVTSI2SSQ CX, X2, X2
	VDIVSS  X2, X0, X0        // mean of w·dy
	VDIVSS  X2, X1, X1        // mean of w·dy·norm
	VBROADCASTSS X0, Y10
	VBROADCASTSS X1, Y11
	XORQ AX, AX
dxl:
	VMOVUPS (SI)(AX*1), Y3
	VSUBPS  Y8, Y3, Y3
	VMULPS  Y9, Y3, Y3        // norm
	VMOVUPS (DI)(AX*1), Y4
	VMULPS  (R8)(AX*1), Y4, Y5 // w·dy
	VSUBPS  Y10, Y5, Y5
	VFNMADD231PS Y11, Y3, Y5  // w·dy − mean − norm·mean2
	VMOVUPS (R9)(AX*1), Y4
	VFMADD231PS Y9, Y5, Y4    // dx += (…)·rs
	VMOVUPS Y4, (R9)(AX*1)
	ADDQ $32, AX
	CMPQ AX, DX
	JNE  dxl
done:
	VZEROUPPER
	RET

// func adamWAVX2(w, grad, m, v *float32, n int, k *adamConsts)
//
// AdamW's update (AdamW.runRange) for n elements, a positive multiple of 8, in the
// same order of operations as the Go loop and without fused multiply-adds, so the
// results are bit-identical to it: w ← keep·w; m ← b1·m + c1·g; v ← b2·v + (c2·g)·g;
// w ← w − (step·m) / (√v·invSqrtBC2 + eps).
TEXT ·adamWAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // b1
	VBROADCASTSS 4(AX), Y9   // b2
	VBROADCASTSS 8(AX), Y10  // c1
	VBROADCASTSS 12(AX), Y11 // c2
	VBROADCASTSS 16(AX), Y12 // step
	VBROADCASTSS 20(AX), Y13 // invSqrtBC2
	VBROADCASTSS 24(AX), Y14 // eps
	VBROADCASTSS 28(AX), Y15 // keep
adam:
	VMOVUPS (SI), Y0          // g
	VMULPS  (R8), Y8, Y1      // b1·m
	VMULPS  Y0, Y10, Y2       // c1·g
	VADDPS  Y2, Y1, Y1        // m
	VMOVUPS Y1, (R8)
	VMULPS  (R9), Y9, Y3      // b2·v
	VMULPS  Y0, Y11, Y4       // c2·g
	VMULPS  Y0, Y4, Y4        // (c2·g)·g
	VADDPS  Y4, Y3, Y3        // v
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VMULPS  Y13, Y3, Y3
	VADDPS  Y14, Y3, Y3       // √v·invSqrtBC2 + eps
	VMULPS  Y1, Y12, Y1       // step·m
	VDIVPS  Y3, Y1, Y1
	VMULPS  (DI), Y15, Y5     // keep·w
	VSUBPS  Y1, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, CX
	JNZ  adam
	VZEROUPPER
	RET

// DROPMASK leaves in Y0 the dropout scales of the eight elements numbered by Y7:
// h = lowbias32(lowbias32(j ^ seedLo) ^ seedHi), lowbias32(x) = the mixer
// x ^= x>>16; x *= 0x7feb352d; x ^= x>>15; x *= 0x846ca68b; x ^= x>>16; then
// keep where h ≥ thr (compared as signed after flipping the top bits). Uses Y1, Y2.
#define LOWBIAS32(R, T) \
	VPSRLD  $16, R, T; \
	VPXOR   T, R, R; \
	VPMULLD Y12, R, R; \
	VPSRLD  $15, R, T; \
	VPXOR   T, R, R; \
	VPMULLD Y13, R, R; \
	VPSRLD  $16, R, T; \
	VPXOR   T, R, R

#define DROPMASK \
	VPXOR   Y8, Y7, Y1; \
	LOWBIAS32(Y1, Y2); \
	VPXOR   Y9, Y1, Y1; \
	LOWBIAS32(Y1, Y2); \
	VPXOR   Y14, Y1, Y1; \
	VPCMPGTD Y1, Y10, Y2; \
	VANDNPS Y11, Y2, Y0

DATA dropConst<>+0(SB)/4, $0x7feb352d
DATA dropConst<>+4(SB)/4, $0x846ca68b
DATA dropConst<>+8(SB)/4, $0x80000000
DATA dropConst<>+12(SB)/4, $8
DATA dropConst<>+16(SB)/4, $0
DATA dropConst<>+20(SB)/4, $1
DATA dropConst<>+24(SB)/4, $2
DATA dropConst<>+28(SB)/4, $3
DATA dropConst<>+32(SB)/4, $4
DATA dropConst<>+36(SB)/4, $5
DATA dropConst<>+40(SB)/4, $6
DATA dropConst<>+44(SB)/4, $7
GLOBL dropConst<>(SB), RODATA|NOPTR, $48

// func dropoutAVX2(x, res, y *float32, n, i0 int, k *dropConsts)
//
// Dropout (dropout.go) for n elements, a positive multiple of 8, numbered from i0:
// y[i] = res[i] + x[i]·s(i0+i), or x[i]·s(i0+i) when res is nil, where s(j) is 0
// when dropMix(j) < thr (unsigned) and keep otherwise. The same as dropoutGo, bit
// for bit (integer hash, one rounding per operation).
TEXT ·dropoutAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ res+8(FP), DX
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ k+40(FP), AX
	VPBROADCASTD 0(AX), Y8     // seed lo
	VPBROADCASTD 4(AX), Y9     // seed hi
	VPBROADCASTD 8(AX), Y10    // thr ^ 1<<31
	VBROADCASTSS 12(AX), Y11   // keep
	VPBROADCASTD dropConst<>+0(SB), Y12 // 0x7feb352d
	VPBROADCASTD dropConst<>+4(SB), Y13 // 0x846ca68b
	VPBROADCASTD dropConst<>+8(SB), Y14 // 1<<31
	VPBROADCASTD dropConst<>+12(SB), Y15 // 8
	MOVQ i0+32(FP), BX
	VMOVD BX, X7
	VPBROADCASTD X7, Y7
	VPADDD dropConst<>+16(SB), Y7, Y7 // j = i0 + (0 … 7)
	TESTQ DX, DX
	JZ   noRes

withRes:
	DROPMASK
	VMULPS  (SI), Y0, Y0
	VADDPS  (DX), Y0, Y0
	VMOVUPS Y0, (DI)
	VPADDD  Y15, Y7, Y7
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  withRes
	VZEROUPPER
	RET

noRes:
	DROPMASK
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	VPADDD  Y15, Y7, Y7
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  noRes
	VZEROUPPER
	RET
