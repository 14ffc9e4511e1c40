package runtimeapi

func (s *Server) queuedForTest() *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}
