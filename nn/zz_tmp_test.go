package nn
import ("testing";"math/rand/v2")
func TestZZSplitExact(t *testing.T) {
	for _, be := range []string{"openblas","gonum"} {
	sel, err := SelectGemm(be); if err != nil { t.Fatal(err) }
	g := sel.Gemm
	rng := rand.New(rand.NewPCG(1,2))
	for _, s := range [][3]int{{3840,128,128},{3840,512,128},{3840,128,512},{128,128,3840},{512,128,3840}} {
	  m,n,k := s[0],s[1],s[2]
	  for _, ta := range []bool{false,true} {
	  a := randn(rng, m*k,1); b := randn(rng,k*n,1)
	  lda := k; if ta { lda = m }
	  c1 := make([]float32,m*n); g.Sgemm(ta,true,m,n,k,1,a,lda,b,k,0,c1,n)
	  for _, parts := range []int{2,3,4,7} {
	    c2 := make([]float32,m*n)
	    for i:=0;i<parts;i++{ lo,hi := i*m/parts,(i+1)*m/parts; aa := a[lo*lda:]; if ta { aa = a[lo:] }; g.Sgemm(ta,true,hi-lo,n,k,1,aa,lda,b,k,0,c2[lo*n:],n)}
	    d := 0; for i := range c1 { if c1[i]!=c2[i] { d++ } }
	    t.Logf("%s %v ta=%v parts=%d differing=%d", be, s, ta, parts, d)
	  }}
	}}
}
